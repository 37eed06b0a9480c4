//! Forward authentication (CONTRACT section 8) over HTTP, as a reverse proxy
//! asks: `/auth/forward` with `X-Forwarded-*`, `/auth/request` with
//! `X-Original-*`, the session cookie the browser sent to the application.

use latchkey::config::{AccessRuleConfig, Config, OneOrMany};
use reqwest::StatusCode;
use serde_json::Value;

use crate::admin_cli::run_cli;
use crate::helpers::{http_builder, spawn_app_with, TestApp, PASSWORD};

/// An access rule on one domain with no other condition.
pub(crate) fn rule(domain: &str, policy: &str) -> AccessRuleConfig {
    AccessRuleConfig {
        domain: OneOrMany::One(domain.into()),
        paths: Vec::new(),
        methods: Vec::new(),
        networks: Vec::new(),
        groups: Vec::new(),
        policy: policy.into(),
    }
}

/// The rules of a small home lab: a public status page, a wiki for anyone
/// signed in, an admin panel for admins with MFA, everything else denied.
fn home_lab(config: &mut Config) {
    config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let mut admin = rule("admin.example.com", "two_factor");
    admin.groups = vec!["admins".into()];
    let mut api = rule("wiki.example.com", "bypass");
    api.paths = vec!["^/api/public/".into()];
    api.methods = vec!["GET".into()];
    config.access_rules = vec![
        rule("status.example.com", "bypass"),
        api,
        rule("wiki.example.com", "one_factor"),
        admin,
        rule("*.example.com", "two_factor"),
    ];
}

/// The home lab with Latchkey at `https://auth.example.com` and one
/// sign-in for every host under `example.com`.
fn home_lab_over_https(config: &mut Config) {
    home_lab(config);
    config.public_url = Some("https://auth.example.com".into());
    config.cookie_domain = Some("example.com".into());
}

/// A proxy asking about one request.
struct Ask<'a> {
    app: &'a TestApp,
    cookie: Option<String>,
    accept_html: bool,
}

impl<'a> Ask<'a> {
    fn anonymous(app: &'a TestApp) -> Self {
        Ask { app, cookie: None, accept_html: false }
    }

    fn with_session(app: &'a TestApp, token: &str) -> Self {
        Ask { app, cookie: Some(format!("latchkey_session={token}")), accept_html: false }
    }

    fn browser(mut self) -> Self {
        self.accept_html = true;
        self
    }

    /// `GET /auth/forward` for `METHOD https://HOST/URI`.
    async fn forward(&self, method: &str, host: &str, uri: &str) -> reqwest::Response {
        let mut request = client()
            .get(self.app.url("/auth/forward"))
            .header("x-forwarded-method", method)
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", host)
            .header("x-forwarded-uri", uri);
        request = self.decorate(request);
        request.send().await.unwrap()
    }

    /// `GET /auth/request` for `METHOD URL`.
    async fn original(&self, method: &str, url: &str) -> reqwest::Response {
        let request = client()
            .get(self.app.url("/auth/request"))
            .header("x-original-url", url)
            .header("x-original-method", method);
        self.decorate(request).send().await.unwrap()
    }

    fn decorate(&self, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        if self.accept_html {
            request = request.header("accept", "text/html,application/xhtml+xml");
        }
        request
    }
}

fn client() -> reqwest::Client {
    http_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_string())
}

fn group(app: &TestApp, args: &[&str]) {
    let (ok, out, err) = run_cli(app.data_dir.path(), args, "", |command| {
        command.env_remove("LATCHKEY_DATABASE_URL").env_remove("LATCHKEY_SECRET_KEY");
    });
    assert!(ok, "{out}{err}");
}

#[tokio::test]
async fn a_visitor_is_sent_to_sign_in_with_the_way_back_or_told_401() {
    let app = spawn_app_with(home_lab).await;
    let visitor = Ask::anonymous(&app);
    let to_sign_in = visitor.browser().forward("GET", "wiki.example.com", "/page?id=1&x=%2F").await;
    assert_eq!(to_sign_in.status(), StatusCode::FOUND);
    let location = header(&to_sign_in, "location").unwrap();
    let expected = format!("{}/login?rd=https%3A%2F%2Fwiki.example.com%2Fpage%3Fid%3D1%26x%3D%252F", app.base);
    assert_eq!(location, expected, "the original URL, encoded once, after the public URL's sign-in page");

    let api_client = Ask::anonymous(&app).forward("GET", "wiki.example.com", "/page").await;
    assert_eq!(api_client.status(), StatusCode::UNAUTHORIZED, "no HTML wanted: no redirect");
    let body: Value = api_client.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    let nginx = Ask::anonymous(&app).browser().original("GET", "https://wiki.example.com/page").await;
    assert_eq!(nginx.status(), StatusCode::UNAUTHORIZED, "nginx turns the 401 into the redirect itself");
    let sign_in = format!("{}/login?rd=https%3A%2F%2Fwiki.example.com%2Fpage", app.base);
    assert_eq!(header(&nginx, "location"), Some(sign_in), "to the URL the 401 names (nginx cannot encode one)");

    let public = Ask::anonymous(&app).original("GET", "https://status.example.com/").await;
    assert_eq!(public.status(), StatusCode::OK, "bypass");
    assert_eq!(header(&public, "remote-user").as_deref(), Some(""), "a bypass names nobody, in empty headers");
    let open_api = Ask::anonymous(&app).forward("GET", "wiki.example.com", "/api/public/x").await;
    assert_eq!(open_api.status(), StatusCode::OK, "bypass on a path and a method");
    let closed_api = Ask::anonymous(&app).forward("POST", "wiki.example.com", "/api/public/x").await;
    assert_eq!(closed_api.status(), StatusCode::UNAUTHORIZED, "another method: the next rule");
    let elsewhere = Ask::anonymous(&app).forward("GET", "example.org", "/").await;
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN, "no rule: the default denies");
}

#[tokio::test]
async fn a_signed_in_user_passes_with_remote_headers_as_the_rules_say() {
    let app = spawn_app_with(home_lab).await;
    let (alice, _, _) = app.user_with_mfa("alice").await;
    app.sign_up("bob").await;
    let bob = app.sign_in("bob").await;
    group(&app, &["group", "create", "admins"]);
    group(&app, &["group", "create", "staff"]);
    group(&app, &["group", "add", "admins", "alice"]);
    group(&app, &["group", "add", "staff", "alice"]);
    group(&app, &["group", "add", "admins", "bob"]);

    let wiki = Ask::with_session(&app, &alice).forward("GET", "wiki.example.com", "/").await;
    assert_eq!(wiki.status(), StatusCode::OK);
    assert_eq!(header(&wiki, "remote-user").as_deref(), Some("alice"));
    assert_eq!(header(&wiki, "remote-email").as_deref(), Some("alice@example.com"));
    assert_eq!(header(&wiki, "remote-name").as_deref(), Some("alice"));
    assert_eq!(header(&wiki, "remote-groups").as_deref(), Some("admins,staff"));
    let nginx = Ask::with_session(&app, &alice).original("GET", "https://admin.example.com:8443/x").await;
    assert_eq!(nginx.status(), StatusCode::OK, "a port in the URL does not change the host");

    let bob_wiki = Ask::with_session(&app, &bob).forward("GET", "wiki.example.com", "/").await;
    assert_eq!(bob_wiki.status(), StatusCode::OK, "one_factor: a password session is enough");
    assert_eq!(header(&bob_wiki, "remote-groups").as_deref(), Some("admins"));
    let bob_admin = Ask::with_session(&app, &bob).browser().forward("GET", "admin.example.com", "/").await;
    assert_eq!(bob_admin.status(), StatusCode::FORBIDDEN, "two_factor and no MFA");
    let page = bob_admin.text().await.unwrap();
    assert!(page.contains("Multi-Factor Authentication needed"), "{page}");
    assert!(page.contains(&format!("href=\"{}/account/mfa\"", app.base)), "links to setting it up: {page}");
}

#[tokio::test]
async fn a_group_rule_sends_a_non_member_on_to_the_next_rule() {
    let app = spawn_app_with(|config| {
        home_lab(config);
        // The admin panel for admins; anyone else signed in is denied there.
        config.access_rules.insert(4, rule("admin.example.com", "deny"));
    })
    .await;
    let (alice, _, _) = app.user_with_mfa("alice").await;
    group(&app, &["group", "create", "admins"]);
    let refused = Ask::with_session(&app, &alice).forward("GET", "admin.example.com", "/").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "not in admins: the deny rule decides");
    group(&app, &["group", "add", "admins", "alice"]);
    let allowed = Ask::with_session(&app, &alice).forward("GET", "admin.example.com", "/").await;
    assert_eq!(allowed.status(), StatusCode::OK, "a member, at once (the session read carries the groups)");
    let visitor = Ask::anonymous(&app).forward("GET", "admin.example.com", "/").await;
    assert_eq!(visitor.status(), StatusCode::UNAUTHORIZED, "a visitor is sent to sign in, not denied");
}

#[tokio::test]
async fn a_dead_or_foreign_session_is_no_session() {
    let app = spawn_app_with(home_lab).await;
    app.sign_up("bob").await;
    let bob = app.sign_in("bob").await;
    let response = app.delete_api("/sessions/current", &bob).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let after_logout = Ask::with_session(&app, &bob).forward("GET", "wiki.example.com", "/").await;
    assert_eq!(after_logout.status(), StatusCode::UNAUTHORIZED, "revoked at once");
    let forged = Ask::with_session(&app, "not-a-session").forward("GET", "wiki.example.com", "/").await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let spoofed = client()
        .get(app.url("/auth/forward"))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "wiki.example.com")
        .header("x-forwarded-uri", "/")
        .header("remote-user", "alice")
        .header("authorization", "Basic YWxpY2U6eA==")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), StatusCode::UNAUTHORIZED, "the endpoint reads no Remote-User or Basic credentials");
    assert_eq!(header(&spoofed, "remote-user"), None);
}

#[tokio::test]
async fn the_request_headers_are_believed_only_from_trusted_proxies() {
    let untrusted = spawn_app_with(|config| {
        home_lab(config);
        config.trusted_proxies = vec!["192.0.2.10".parse().unwrap()];
    })
    .await;
    for response in [
        Ask::anonymous(&untrusted).forward("GET", "status.example.com", "/").await,
        Ask::anonymous(&untrusted).original("GET", "https://status.example.com/").await,
    ] {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request");
        assert!(body["error"]["message"].as_str().unwrap().contains("trusted_proxies"), "{body}");
    }

    let app = spawn_app_with(home_lab).await;
    let forwarded = |method: Option<&str>, proto: Option<&str>, host: Option<&str>, uri: Option<&str>| {
        let mut request = client().get(app.url("/auth/forward"));
        for (name, value) in [
            ("x-forwarded-method", method),
            ("x-forwarded-proto", proto),
            ("x-forwarded-host", host),
            ("x-forwarded-uri", uri),
        ] {
            if let Some(value) = value {
                request = request.header(name, value);
            }
        }
        request
    };
    let good = (Some("GET"), Some("https"), Some("wiki.example.com"), Some("/"));
    let original = |url: &str, method: Option<&str>| {
        let request = client().get(app.url("/auth/request")).header("x-original-url", url);
        match method {
            Some(method) => request.header("x-original-method", method),
            None => request,
        }
    };
    let malformed = [
        forwarded(None, good.1, good.2, good.3),
        forwarded(good.0, None, good.2, good.3),
        forwarded(good.0, good.1, None, good.3),
        forwarded(good.0, good.1, good.2, None),
        forwarded(good.0, Some("ftp"), good.2, good.3),
        forwarded(good.0, good.1, good.2, Some("x")),
        forwarded(good.0, good.1, good.2, Some("//evil.org/")),
        forwarded(good.0, good.1, Some("a b"), good.3),
        forwarded(good.0, good.1, Some("wiki.example.com:@status.example.com"), good.3),
        forwarded(good.0, good.1, Some("wiki.example.com/x"), good.3),
        forwarded(Some("GET /"), good.1, good.2, good.3),
        forwarded(good.0, good.1, good.2, Some("/public/%2e%2e/admin")),
        forwarded(good.0, good.1, good.2, Some("/a%5c..%5cadmin")),
        client().get(app.url("/auth/request")),
        original("https://wiki.example.com/", None),
        original("/relative", Some("GET")),
        original("javascript:alert(1)", Some("GET")),
        original("https://wiki.example.com:@status.example.com/", Some("GET")),
        original("https://user@wiki.example.com/", Some("GET")),
        original("https://wiki.example.com/", Some("GET /")),
        original("https://wiki.example.com/public/%2e%2e/admin", Some("GET")),
    ];
    for (index, request) in malformed.into_iter().enumerate() {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "malformed request {index}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request", "{body}");
    }
}

#[tokio::test]
async fn networks_are_the_client_address_the_trusted_proxy_names() {
    let app = spawn_app_with(|config| {
        home_lab(config);
        let mut office = rule("wiki.example.com", "bypass");
        office.networks = vec!["10.0.0.0/8".into()];
        config.access_rules.insert(0, office);
    })
    .await;
    let from = |ip: &'static str| {
        client()
            .get(app.url("/auth/forward"))
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "wiki.example.com")
            .header("x-forwarded-uri", "/")
            .header("x-forwarded-for", ip)
            .send()
    };
    assert_eq!(from("10.1.2.3").await.unwrap().status(), StatusCode::OK, "from the office network");
    assert_eq!(from("192.0.2.50").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        from("10.1.2.3, 192.0.2.50").await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the nearest untrusted hop counts, not what the client wrote further left"
    );
}

#[tokio::test]
async fn signing_in_returns_to_rd_only_when_it_may_be_followed() {
    let app = spawn_app_with(home_lab).await;
    app.sign_up("bob").await;
    let browser = app.browser();
    let back = format!("{}/account/security", app.base);
    let form = browser.get("/login?rd=%2Faccount%2Fsecurity").await;
    assert_eq!(form.input_value("rd").as_deref(), Some(back.as_str()), "a path of this service, made absolute");
    let done = browser
        .post("/login", &[("csrf_token", &form.csrf()), ("login", "bob"), ("password", PASSWORD), ("rd", &back)])
        .await;
    assert_eq!((done.status, done.location.as_deref()), (StatusCode::SEE_OTHER, Some(back.as_str())));
    let again = browser.get("/login?rd=%2Faccount%2Fsecurity").await;
    assert_eq!(again.location.as_deref(), Some(back.as_str()), "signed in already: straight back");

    for evil in ["https://evil.org/", "//evil.org", "/\\evil.org", "javascript:alert(1)"] {
        let stranger = app.browser();
        let form = stranger.get(&format!("/login?rd={}", urlencode(evil))).await;
        assert_eq!(form.input_value("rd"), None, "{evil}");
        let done = stranger
            .post("/login", &[("csrf_token", &form.csrf()), ("login", "bob"), ("password", PASSWORD), ("rd", evil)])
            .await;
        assert_eq!(done.location.as_deref(), Some("/dashboard"), "{evil} is ignored");
    }
}

#[tokio::test]
async fn the_code_step_carries_rd_to_the_end_of_the_sign_in() {
    let app = spawn_app_with(home_lab).await;
    let (_, secret, _) = app.user_with_mfa("alice").await;
    app.clock.advance(time::Duration::seconds(30));
    let browser = app.browser();
    let back = format!("{}/account/mfa", app.base);
    let form = browser.get("/login?rd=%2Faccount%2Fmfa").await;
    let step = browser
        .post("/login", &[("csrf_token", &form.csrf()), ("login", "alice"), ("password", PASSWORD), ("rd", &back)])
        .await;
    assert_eq!(step.input_value("rd").as_deref(), Some(back.as_str()), "{}", step.html);
    let wrong = browser.post("/login/mfa", &[("csrf_token", &step.csrf()), ("code", "000000"), ("rd", &back)]).await;
    assert_eq!(wrong.input_value("rd").as_deref(), Some(back.as_str()), "kept after a wrong code");
    let code = app.code(&secret, 0);
    let done = browser.post("/login/mfa", &[("csrf_token", &step.csrf()), ("code", &code), ("rd", &back)]).await;
    assert_eq!((done.status, done.location.as_deref()), (StatusCode::SEE_OTHER, Some(back.as_str())));
}

#[tokio::test]
async fn a_cookie_domain_makes_one_sign_in_cover_every_protected_subdomain() {
    let app = spawn_app_with(home_lab_over_https).await;
    app.sign_up("bob").await;
    let visitor = Ask::anonymous(&app).browser().forward("GET", "wiki.example.com", "/page").await;
    let location = header(&visitor, "location").unwrap();
    assert_eq!(location, "https://auth.example.com/login?rd=https%3A%2F%2Fwiki.example.com%2Fpage");

    // The test client speaks plain http and keeps Secure cookies to itself: send them by hand.
    let browser = app.browser();
    let form = browser.get("/login?rd=https%3A%2F%2Fwiki.example.com%2Fpage").await;
    assert_eq!(form.input_value("rd").as_deref(), Some("https://wiki.example.com/page"));
    let csrf_cookie = form.set_cookies.iter().find(|c| c.starts_with("__Host-latchkey_csrf=")).unwrap();
    let csp = client().get(app.url("/login")).send().await.unwrap().headers()["content-security-policy"].clone();
    assert!(
        csp.to_str().unwrap().contains("form-action 'self' https://example.com:* https://*.example.com:*"),
        "a browser holds the sign-in's redirect to the application to form-action: {csp:?}"
    );
    assert!(!csrf_cookie.contains("Domain"), "only the session cookie is shared: {csrf_cookie}");
    let done = browser
        .post_with(
            "/login",
            &[
                ("csrf_token", &form.csrf()),
                ("login", "bob"),
                ("password", PASSWORD),
                ("rd", "https://wiki.example.com/page"),
            ],
            &[("origin", "https://auth.example.com"), ("cookie", csrf_cookie.split(';').next().unwrap())],
        )
        .await;
    assert_eq!(done.location.as_deref(), Some("https://wiki.example.com/page"), "{}", done.html);
    let session = done.set_cookies.iter().find(|c| c.starts_with("__Secure-latchkey_session=")).unwrap();
    for part in ["Domain=example.com", "Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(part), "{part} in {session}");
    }
    let cookie = session.split(';').next().unwrap().to_string();
    let on_wiki = Ask { app: &app, cookie: Some(cookie.clone()), accept_html: true }
        .forward("GET", "wiki.example.com", "/page")
        .await;
    assert_eq!((on_wiki.status(), header(&on_wiki, "remote-user").as_deref()), (StatusCode::OK, Some("bob")));
    let host_only = Ask { app: &app, cookie: Some(cookie.replace("__Secure-", "__Host-")), accept_html: false }
        .forward("GET", "wiki.example.com", "/page")
        .await;
    assert_eq!(host_only.status(), StatusCode::UNAUTHORIZED, "the session is read under its own name only");
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Runs `latchkey ARGS` with a config file holding `toml`.
fn with_config(toml: &str, args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latchkey.toml");
    std::fs::write(&file, toml).unwrap();
    let file = file.to_str().unwrap().to_string();
    run_cli(dir.path(), args, "", |command| {
        command.env_remove("LATCHKEY_DATABASE_URL").env_remove("LATCHKEY_SECRET_KEY").env("LATCHKEY_CONFIG", &file);
    })
}

const HOME_LAB: &str = r#"
public_url = "https://auth.example.com"
cookie_domain = "example.com"
trusted_proxies = ["127.0.0.1"]
default_policy = "deny"

[[access_rules]]
domain = "*.example.com"
policy = "two_factor"

[[access_rules]]
domain = ["wiki.example.com", "docs.example.com"]
paths = ["^/public/"]
policy = "bypass"

[[access_rules]]
domain = "status.example.com"
methods = ["GET"]
networks = ["10.0.0.0/8"]
policy = "bypass"
"#;

#[tokio::test]
async fn config_check_names_rules_that_can_never_match_and_a_deny_all() {
    let (ok, out, err) = with_config(HOME_LAB, &["config", "check"]);
    assert!(ok, "{err}");
    assert!(out.contains("# warning: access rule 2 can never match: rule 1, before it"), "{out}");
    assert!(out.contains("# warning: access rule 3 can never match: rule 1"), "{out}");
    assert!(out.contains("the configuration is valid, with the warnings above"), "{out}");
    assert!(out.contains("[[access_rules]]"), "the rules are printed back: {out}");

    let (ok, out, _) = with_config("default_policy = \"deny\"\n", &["config", "check"]);
    assert!(ok && out.contains("# warning: every request is denied"), "{out}");
    let (ok, out, _) = with_config("default_policy = \"two_factor\"\n", &["config", "check"]);
    assert!(ok && !out.contains("warning"), "{out}");

    for (bad, why) in [
        ("default_policy = \"allow\"\n", "default_policy: unknown policy"),
        ("[[access_rules]]\ndomain = \"a.example.com\"\npolicy = \"allow\"\n", "access rule 1: unknown policy"),
        ("[[access_rules]]\npolicy = \"bypass\"\n", "missing field `domain`"),
        ("[[access_rules]]\ndomain = \"x.org\"\npaths = [\"(\"]\npolicy = \"bypass\"\n", "is not a regular expression"),
        ("[[access_rules]]\ndomain = \"x.org\"\npolicy = \"bypass\"\nuser = \"a\"\n", "unknown field: found `user`"),
        (
            "public_url = \"https://auth.example.com\"\ncookie_domain = \"example.org\"\n",
            "must be the public URL's host",
        ),
        ("public_url = \"http://127.0.0.1:8080\"\ncookie_domain = \"0.0.1\"\n", "not an IP address"),
        ("cookie_domain = \"example.com\"\n", "cookie_domain needs public_url"),
        ("public_url = \"https://auth.example.com\"\ncookie_domain = \"com\"\n", "a top-level domain"),
    ] {
        let (ok, _, err) = with_config(bad, &["config", "check"]);
        assert!(!ok && err.contains(why) && err.trim().lines().count() == 1, "{bad}: {err}");
    }
}

#[tokio::test]
async fn authz_explain_names_the_rule_and_the_decision() {
    let explain = |args: &[&str]| {
        let mut all = vec!["authz", "explain"];
        all.extend_from_slice(args);
        let (ok, out, err) = with_config(HOME_LAB, &all);
        assert!(ok, "{err}");
        out
    };
    let out = explain(&["https://wiki.example.com/public/x"]);
    assert!(out.contains("rule 1: domain *.example.com: two_factor"), "first match wins: {out}");
    assert!(out.contains("decision for a visitor who is not signed in: sign in first"), "{out}");
    let out = explain(&["https://example.org/", "--method", "post", "--ip", "10.0.0.1"]);
    assert!(out.contains("no rule matches: default_policy deny") && out.contains("deny (403)"), "{out}");
    let (ok, _, err) = with_config(HOME_LAB, &["authz", "explain", "not a url"]);
    assert!(!ok && err.contains("is not an absolute URL"), "{err}");
}

#[tokio::test]
async fn a_session_that_passed_a_code_is_refused_by_two_factor_once_mfa_is_off() {
    let app = spawn_app_with(home_lab).await;
    let (alice, secret, _) = app.user_with_mfa("alice").await;
    let before = Ask::with_session(&app, &alice).forward("GET", "photos.example.com", "/").await;
    assert_eq!(before.status(), StatusCode::OK, "the session that confirmed MFA counts as two-factor");
    app.clock.advance(time::Duration::seconds(30));
    let code = app.code(&secret, 0);
    let off = app.api_delete_json("/me/mfa/totp", &serde_json::json!({"code": code}), &alice).await;
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    let after = Ask::with_session(&app, &alice).browser().forward("GET", "photos.example.com", "/").await;
    assert_eq!(after.status(), StatusCode::FORBIDDEN, "no MFA any more, whatever the session passed");
    assert!(after.text().await.unwrap().contains("Set up Multi-Factor Authentication"));
}

#[tokio::test]
async fn setting_up_mfa_from_the_refusal_leads_back_to_the_application() {
    let app = spawn_app_with(home_lab_over_https).await;
    app.sign_up("bob").await;
    let bob = app.sign_in("bob").await;
    let ask = Ask { app: &app, cookie: Some(format!("__Secure-latchkey_session={bob}")), accept_html: true };
    let refused = ask.forward("GET", "photos.example.com", "/album").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    let link = "https://auth.example.com/account/mfa?rd=https%3A%2F%2Fphotos.example.com%2Falbum";
    assert!(page.contains(&format!("href=\"{link}\"")), "{page}");

    // The set-up keeps the way back to its last page (here on this
    // service's own host, which the test's plain-http client can follow).
    let plain = spawn_app_with(home_lab).await;
    let browser = plain.browser();
    browser.sign_up("carol", "carol@example.com", PASSWORD).await;
    let back = format!("{}/account/security", plain.base);
    let setup = browser.get("/account/mfa?rd=%2Faccount%2Fsecurity").await;
    assert_eq!(setup.input_value("rd").as_deref(), Some(back.as_str()), "{}", setup.html);
    let secret = setup.inner("mfa-secret").unwrap().split_whitespace().collect::<String>();
    let wrong =
        browser.post("/account/mfa/confirm", &[("csrf_token", &setup.csrf()), ("code", "000000"), ("rd", &back)]).await;
    assert_eq!(wrong.input_value("rd").as_deref(), Some(back.as_str()), "kept after a wrong code");
    let code = plain.code(&secret, 0);
    let done =
        browser.post("/account/mfa/confirm", &[("csrf_token", &setup.csrf()), ("code", &code), ("rd", &back)]).await;
    assert!(done.html.contains(&format!("href=\"{back}\"")), "{}", done.html);
    assert!(done.html.contains("continue to 127.0.0.1"), "{}", done.html);
    let evil = browser.get("/account/mfa?rd=https%3A%2F%2Fevil.org%2F").await;
    assert!(!evil.html.contains("evil.org"), "an rd that may not be followed is dropped");
}
