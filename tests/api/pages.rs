//! The pages a person clicks through: sign up, dashboard, log out, sign in.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with, PASSWORD};

#[tokio::test]
async fn the_start_page_sends_strangers_to_sign_in_and_members_to_the_dashboard() {
    let app = spawn_app().await;
    let browser = app.browser();
    let page = browser.get("/").await;
    assert_eq!((page.status, page.location.as_deref()), (StatusCode::SEE_OTHER, Some("/login")));
    let page = browser.get("/dashboard").await;
    assert_eq!((page.status, page.location.as_deref()), (StatusCode::SEE_OTHER, Some("/login")));

    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let page = browser.get("/").await;
    assert_eq!((page.status, page.location.as_deref()), (StatusCode::SEE_OTHER, Some("/dashboard")));
    let page = browser.get("/login").await;
    assert_eq!(page.location.as_deref(), Some("/dashboard"), "signed in: no sign-in form");
}

#[tokio::test]
async fn signing_up_lands_on_the_dashboard_with_the_hello_menu() {
    let app = spawn_app().await;
    let browser = app.browser();
    let form = browser.get("/signup").await;
    assert_eq!(form.status, StatusCode::OK);
    for field in ["name=\"username\"", "name=\"email\"", "name=\"password\"", "autocomplete=\"new-password\""] {
        assert!(form.html.contains(field), "{field}");
    }
    let page = browser.sign_up("Alice", "alice@example.com", PASSWORD).await;
    assert_eq!((page.status, page.location.as_deref()), (StatusCode::SEE_OTHER, Some("/dashboard")));
    let cookie = page.set_cookies.iter().find(|c| c.starts_with("latchkey_session=")).expect("a session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure") && !cookie.contains("Domain"), "plain http: {cookie}");

    let dashboard = browser.get("/dashboard").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    let html = &dashboard.html;
    assert!(html.contains("Hello, alice"), "the menu greets the folded username");
    let menu = &html[html.find("class=\"user-menu\"").unwrap()..html.find("</nav>").unwrap()];
    assert!(menu.contains("<a href=\"/account/mfa\">Multi-Factor Authentication</a>"));
    assert!(menu.contains("<form method=\"post\" action=\"/logout\">"));
    assert!(menu.contains("<button type=\"submit\">Logout</button>"));
    assert!(menu.contains("name=\"csrf_token\""));
    assert!(linked(html, ".css").starts_with("/static/app."), "the stylesheet, under its hashed path");
}

#[tokio::test]
async fn sign_up_errors_stand_beside_their_fields_and_keep_what_was_typed() {
    let app = spawn_app().await;
    let browser = app.browser();
    let page = browser.sign_up("al", "alice@example.com", "short pw").await;
    assert_eq!(page.status, StatusCode::OK, "the form again, not an error status the browser would log");
    assert_eq!(page.input_value("username").as_deref(), Some("al"));
    assert_eq!(page.input_value("email").as_deref(), Some("alice@example.com"));
    assert_eq!(page.input_value("password").as_deref(), Some(""), "the password is never sent back");
    assert!(!page.html.contains("short pw"));
    assert!(page.html.contains("id=\"username-error\""), "an error next to the username");
    assert!(page.html.contains("id=\"password-error\""), "an error next to the password");
    assert!(!page.html.contains("id=\"email-error\""), "no error for the good email");
    assert!(page.html.contains("aria-describedby=\"username-hint username-error\""));

    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let other = app.browser();
    let page = other.sign_up("ALICE", "new@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("id=\"username-error\""));
    assert!(page.html.contains("That username is already taken."));
}

#[tokio::test]
async fn markup_typed_into_a_form_comes_back_escaped() {
    let app = spawn_app().await;
    let page = app.browser().sign_up("<script>alert(1)</script>", "x\"@example.com", "short").await;
    assert!(!page.html.contains("<script>alert(1)</script>"));
    assert!(page.html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "shown as text");
    assert!(!page.html.contains("x\"@example.com"));
}

#[tokio::test]
async fn logging_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let browser = app.browser();
    let page = browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let session_cookie = page.set_cookies.iter().find(|c| c.starts_with("latchkey_session=")).unwrap();
    let saved = session_cookie.split(';').next().unwrap().to_string();

    let dashboard = browser.get("/dashboard").await;
    let page = browser.post("/logout", &[("csrf_token", &dashboard.csrf())]).await;
    assert_eq!((page.status, page.location.as_deref()), (StatusCode::SEE_OTHER, Some("/login")));
    assert!(page.set_cookies.iter().any(|c| c.starts_with("latchkey_session=;")), "the cookie is cleared");

    let replay = crate::helpers::http_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = replay.get(app.url("/dashboard")).header("cookie", &saved).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the old cookie opens nothing");
}

#[tokio::test]
async fn signing_in_shows_the_dashboard_and_gives_a_new_session_id() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    let dashboard = browser.get("/dashboard").await;
    browser.post("/logout", &[("csrf_token", &dashboard.csrf())]).await;

    let page = browser.log_in("alice@example.com", PASSWORD).await;
    assert_eq!((page.status, page.location.as_deref()), (StatusCode::SEE_OTHER, Some("/dashboard")));
    assert!(browser.get("/dashboard").await.html.contains("Hello, alice"));
}

#[tokio::test]
async fn a_session_planted_before_sign_in_is_replaced_and_ended() {
    let app = spawn_app().await;
    let planted = app.browser().sign_up("mallory", "mallory@example.com", PASSWORD).await;
    let planted = planted.set_cookies.iter().find(|c| c.starts_with("latchkey_session=")).unwrap();
    let planted = planted.split(';').next().unwrap().to_string();
    app.sign_up("alice").await;

    let form = app.browser().get("/login").await;
    let csrf_cookie = form.set_cookies[0].split(';').next().unwrap().to_string();
    let plain = crate::helpers::http_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = plain
        .post(app.url("/login"))
        .header("cookie", format!("{csrf_cookie}; {planted}"))
        .form(&[("csrf_token", form.csrf().as_str()), ("login", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let fresh = response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string());
    let fresh: Vec<_> = fresh.filter(|c| c.starts_with("latchkey_session=")).collect();
    assert_eq!(fresh.len(), 1);
    assert_ne!(fresh[0].split(';').next().unwrap(), planted, "a new session id at sign-in");

    let response = plain.get(app.url("/dashboard")).header("cookie", &planted).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the session held before sign-in is dead");
}

#[tokio::test]
async fn a_wrong_password_shows_an_error_and_keeps_the_login() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let browser = app.browser();
    let wrong = browser.log_in("alice", "not the password at all").await;
    let unknown = browser.log_in("mallory", PASSWORD).await;
    assert_eq!(wrong.status, StatusCode::OK);
    assert!(wrong.html.contains("role=\"alert\""));
    assert_eq!(wrong.input_value("login").as_deref(), Some("alice"));
    assert_eq!(wrong.input_value("password").as_deref(), Some(""));
    assert!(wrong.set_cookies.is_empty(), "no session");
    let error_of =
        |html: &str| html[html.find("id=\"login-error\"").unwrap()..].split("</div>").next().unwrap().to_string();
    assert_eq!(error_of(&wrong.html), error_of(&unknown.html), "unknown user and wrong password read the same");
}

#[tokio::test]
async fn an_https_public_url_makes_host_prefixed_secure_cookies() {
    let app = spawn_app_with(|c| c.public_url = Some("https://login.example.org".into())).await;
    let browser = app.browser();
    let form = browser.get("/signup").await;
    let csrf_cookie = form.set_cookies.iter().find(|c| c.starts_with("__Host-latchkey_csrf=")).expect("csrf cookie");
    assert!(csrf_cookie.contains("Secure") && csrf_cookie.contains("Path=/") && !csrf_cookie.contains("Domain"));
    let csrf = form.csrf();
    let value = csrf_cookie.split(';').next().unwrap().to_string();
    // The test client speaks plain http, so it does not send Secure cookies back by itself.
    let page = browser
        .post_with(
            "/signup",
            &[("csrf_token", &csrf), ("username", "alice"), ("email", "alice@example.com"), ("password", PASSWORD)],
            &[("origin", "https://login.example.org"), ("cookie", &value)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let session = page.set_cookies.iter().find(|c| c.starts_with("__Host-latchkey_session=")).expect("session cookie");
    assert!(session.contains("Secure") && session.contains("HttpOnly") && session.contains("SameSite=Lax"));
}

#[tokio::test]
async fn unknown_pages_are_a_404_page_naming_the_support_contact() {
    let app = spawn_app_with(|c| c.support_email = Some("help@example.org".into())).await;
    let page = app.browser().get("/no/such/page").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.html.contains("Page not found"));
    assert!(page.html.contains("href=\"mailto:help@example.org\""));
}

#[tokio::test]
async fn the_stylesheet_and_icon_ship_in_the_binary() {
    let app = spawn_app().await;
    let browser = app.browser();
    for (path, kind) in
        [("/static/app.css", "text/css"), ("/static/favicon.svg", "image/svg+xml"), ("/favicon.ico", "image/svg+xml")]
    {
        let response = browser.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with(kind));
    }
    let css = browser.client.get(app.url("/static/app.css")).send().await.unwrap().text().await.unwrap();
    assert!(css.contains(".user-menu:not(.scripted):focus-within") && css.contains("prefers-color-scheme: dark"));
}

/// The `href` or `src` a page gives a file of `/static/` ending in `suffix`.
fn linked(html: &str, suffix: &str) -> String {
    let at = html.find(suffix).unwrap_or_else(|| panic!("{suffix} in {html}"));
    let start = html[..at].rfind("/static/").unwrap();
    html[start..at + suffix.len()].to_string()
}

#[tokio::test]
async fn static_files_live_under_hashed_paths_with_etags_and_compressed_text() {
    let app = spawn_app().await;
    let client = crate::helpers::http_builder().build().unwrap();
    let page = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let stylesheet = linked(&page, ".css");
    let hash = stylesheet.trim_start_matches("/static/app.").trim_end_matches(".css");
    assert!(hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{stylesheet}");
    let css = client.get(app.url(&stylesheet)).send().await.unwrap();
    assert_eq!(css.headers()["cache-control"], "public, max-age=31536000, immutable");
    let etag = css.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("W/\"{hash}\""), "weak: the same file goes out compressed or not");
    let body = css.text().await.unwrap();
    let plain = client.get(app.url("/static/app.css")).send().await.unwrap();
    assert_eq!(plain.headers()["cache-control"], "public, max-age=300", "the plain path, briefly");
    assert_eq!(plain.text().await.unwrap(), body, "the same file");
    let again = client.get(app.url(&stylesheet)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.content_length(), Some(0));
    assert!(again.headers()["vary"].to_str().unwrap().contains("accept-encoding"), "the 304 varies as the 200 does");
    let strong = client.get(app.url(&stylesheet)).header("if-none-match", format!("\"{hash}\"")).send().await.unwrap();
    assert_eq!(strong.status(), StatusCode::NOT_MODIFIED, "compared weakly");
    let stale = client.get(app.url(&stylesheet)).header("if-none-match", "\"0\"").send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    assert_eq!(client.get(app.url("/static/app.0.css")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    for (path, encoding) in [(stylesheet.as_str(), "br"), ("/api/v1/openapi.json", "gzip"), ("/metrics", "br")] {
        let raw = crate::helpers::http_builder().no_gzip().no_brotli().build().unwrap();
        let answer = raw.get(app.url(path)).header("accept-encoding", encoding).send().await.unwrap();
        assert_eq!(answer.headers()["content-encoding"], encoding, "{path}");
        assert!(answer.headers()["vary"].to_str().unwrap().contains("accept-encoding"), "{path}");
    }
    let raw = crate::helpers::http_builder().no_gzip().no_brotli().build().unwrap();
    let login = raw.get(app.url("/login")).header("accept-encoding", "gzip, br").send().await.unwrap();
    assert!(login.headers().get("content-encoding").is_none(), "pages are never compressed (BREACH)");
}

#[tokio::test]
async fn a_form_over_64_kib_is_refused_with_413() {
    let app = spawn_app().await;
    let browser = app.browser();
    let form = browser.get("/signup").await;
    let pad = "x".repeat(70_000);
    let page = browser.post("/signup", &[("csrf_token", &form.csrf()), ("username", "alice"), ("email", &pad)]).await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn tokens_and_passwords_never_reach_the_data_dir_in_clear() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let token = app.sign_in("alice").await;
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(app.data_dir.path()).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let haystack = String::from_utf8_lossy(&stored);
    assert!(haystack.contains("alice@example.com"), "the check reads the real store");
    assert!(
        haystack.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "passwords are Argon2id with the contract's parameters"
    );
    assert!(!haystack.contains(&token), "the session token is stored only as a hash");
    assert!(!haystack.contains(PASSWORD));
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    let browser = app.browser();
    for path in ["/login", "/signup", "/no-such-page", "/api/v1/me", "/healthz"] {
        let response = browser.client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"));
        assert!(headers.get("strict-transport-security").is_none(), "no HSTS over plain http");
        assert_eq!(headers["cross-origin-resource-policy"], "same-origin", "{path}");
        let permissions = headers["permissions-policy"].to_str().unwrap();
        assert!(
            permissions.contains("camera=()") && permissions.contains("publickey-credentials-get=(self)"),
            "{path}"
        );
        let granted: Vec<&str> = permissions.split(", ").filter(|p| !p.ends_with("=()")).collect();
        assert_eq!(
            granted,
            ["publickey-credentials-create=(self)", "publickey-credentials-get=(self)"],
            "only WebAuthn, and only to the pages themselves"
        );
    }
    let css = browser.client.get(app.url("/static/app.css")).send().await.unwrap();
    assert_ne!(css.headers()["cache-control"], "no-store", "static assets may be cached");

    let https = spawn_app_with(|c| c.public_url = Some("https://login.example.org".into())).await;
    let response = crate::helpers::http().get(https.url("/login")).send().await.unwrap();
    assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000; includeSubDomains");
}

#[tokio::test]
async fn the_security_page_lists_sessions_and_events_and_signs_out_others() {
    let app = spawn_app().await;
    let laptop = app.browser();
    laptop.sign_up("alice", "alice@example.com", PASSWORD).await;
    let phone = app.browser();
    phone.log_in("alice", PASSWORD).await;
    let tablet = app.browser();
    tablet.log_in("alice", PASSWORD).await;
    app.browser().log_in("alice", "a wrong password").await;

    let page = laptop.get("/account/security").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.html.matches("class=\"session\"").count(), 3);
    assert_eq!(page.html.matches("This browser").count(), 1);
    assert!(
        page.html.contains("<td role=\"cell\" data-label=\"What\">Signed in</td>")
            && page.html.contains("<td role=\"cell\" data-label=\"What\">Wrong password</td>")
    );
    assert!(page.html.contains("15\u{a0}Jan\u{a0}2027,\u{a0}08:00\u{a0}UTC"), "dates short and on one line");

    let other = page.input_value("session_id").expect("a sign-out button for another session");
    let without_token = laptop.post("/account/security/sessions/revoke", &[("session_id", &other)]).await;
    assert_eq!(without_token.status, StatusCode::FORBIDDEN);
    let done =
        laptop.post("/account/security/sessions/revoke", &[("csrf_token", &page.csrf()), ("session_id", &other)]).await;
    assert!(done.html.contains("That session is signed out."));
    assert_eq!(done.html.matches("class=\"session\"").count(), 2);

    let done = laptop.post("/account/security/sessions/revoke-others", &[("csrf_token", &page.csrf())]).await;
    assert!(done.html.contains("1 other session is signed out."));
    for browser in [&phone, &tablet] {
        assert_eq!(browser.get("/dashboard").await.location.as_deref(), Some("/login"));
    }
    assert_eq!(laptop.get("/dashboard").await.status, StatusCode::OK, "this browser stays signed in");
    assert!(laptop.get("/account/security").await.html.contains("Session signed out from elsewhere"));
}

#[tokio::test]
async fn a_request_past_its_deadline_is_a_503_page_naming_the_support_contact() {
    use sqlx::Connection as _;
    let app = spawn_app_with(|c| {
        c.request_timeout_secs = 2;
        c.support_url = Some("https://help.example.org".into());
    })
    .await;
    let browser = app.browser();
    let csrf = browser.get("/login").await.csrf();
    // Someone holds the database's write lock: every write now waits.
    let url = format!("sqlite://{}", app.data_dir.path().join("latchkey.db").display());
    let mut blocker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut blocker).await.unwrap();
    let started = std::time::Instant::now();
    let page = browser.post("/login", &[("csrf_token", &csrf), ("login", "alice"), ("password", PASSWORD)]).await;
    let waited = started.elapsed();
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(waited < std::time::Duration::from_secs(4), "answered at the deadline, not when the lock went: {waited:?}");
    assert!(page.html.contains("Busy right now") && page.html.contains("https://help.example.org"), "{}", page.html);
}

#[tokio::test]
async fn under_https_the_trusted_browser_cookie_is_host_prefixed_and_secure_too() {
    let app = spawn_app_with(|c| c.public_url = Some("https://login.example.org".into())).await;
    let (_, secret, _) = app.user_with_mfa("alice").await;
    app.clock.advance(time::Duration::seconds(30));
    let browser = app.browser();
    // The test client speaks plain http and keeps Secure cookies to itself: send them by hand.
    let mut jar: Vec<String> = Vec::new();
    let mut keep = |set_cookies: &[String]| {
        for cookie in set_cookies {
            let pair = cookie.split(';').next().unwrap().to_string();
            let name = pair.split('=').next().unwrap().to_string();
            jar.retain(|c| !c.starts_with(&format!("{name}=")));
            jar.push(pair);
        }
        jar.join("; ")
    };
    let form = browser.get("/login").await;
    let cookies = keep(&form.set_cookies);
    let origin = ("origin", "https://login.example.org");
    let step = browser
        .post_with(
            "/login",
            &[("csrf_token", &form.csrf()), ("login", "alice"), ("password", PASSWORD)],
            &[origin, ("cookie", &cookies)],
        )
        .await;
    assert!(step.html.contains("action=\"/login/mfa\""), "{}", step.html);
    let cookies = keep(&step.set_cookies);
    let code = app.code(&secret, 0);
    let done = browser
        .post_with(
            "/login/mfa",
            &[("csrf_token", &step.csrf()), ("code", &code), ("trust_device", "yes")],
            &[origin, ("cookie", &cookies)],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let device = done.set_cookies.iter().find(|c| c.starts_with("__Host-latchkey_device=")).expect("device cookie");
    assert!(device.contains("Secure") && device.contains("HttpOnly") && device.contains("Path=/"), "{device}");
    assert!(!device.contains("Domain"), "{device}");
}

#[tokio::test]
async fn a_page_typed_with_a_trailing_slash_is_sent_to_the_page_and_never_off_site() {
    let app = spawn_app().await;
    let browser = app.browser();
    let page = browser.get("/login/").await;
    assert_eq!((page.status, page.location.as_deref()), (StatusCode::PERMANENT_REDIRECT, Some("/login")));
    let page = browser.get("/account/security//?from=menu").await;
    assert_eq!(page.location.as_deref(), Some("/account/security?from=menu"), "the query is kept");
    for off_site in ["//evil.example/", "///evil.example//", "/\\evil.example/"] {
        let page = browser.get(off_site).await;
        assert_eq!((page.status, page.location), (StatusCode::NOT_FOUND, None), "{off_site}");
    }
    let api = browser.client.get(app.url("/api/v1/me/")).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND, "the API does not redirect");
}

#[tokio::test]
async fn signing_in_from_a_page_that_needs_it_comes_back_to_that_page() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let browser = app.browser();
    let asked = browser.get("/account/security?tab=events").await;
    assert_eq!(asked.location.as_deref(), Some("/login?rd=%2Faccount%2Fsecurity%3Ftab%3Devents"));
    let form = browser.get(asked.location.as_deref().unwrap()).await;
    let back = format!("{}/account/security?tab=events", app.base);
    assert_eq!(form.input_value("rd").as_deref(), Some(back.as_str()), "{}", form.html);
    let done = browser
        .post("/login", &[("csrf_token", &form.csrf()), ("login", "alice"), ("password", PASSWORD), ("rd", &back)])
        .await;
    assert_eq!(done.location.as_deref(), Some(back.as_str()), "back to the page asked for");
    let posted = app.browser().post("/account/security/sessions/revoke-others", &[("csrf_token", "x")]).await;
    assert_eq!(posted.location.as_deref(), Some("/login"), "a form sent without a session is not returned to");
}

#[tokio::test]
async fn the_menu_is_a_disclosure_button_with_the_security_page() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.sign_up("alice", "alice@example.com", PASSWORD).await;
    for path in ["/dashboard", "/account/security", "/account/mfa"] {
        let page = browser.get(path).await;
        let trigger = &page.html[page.html.find("class=\"user-menu-trigger\"").unwrap()..];
        let trigger = &trigger[..trigger.find('>').unwrap()];
        assert!(
            trigger.contains("aria-expanded=\"false\"") && trigger.contains("aria-controls=\"user-menu-panel\""),
            "{path}: {trigger}"
        );
        assert!(page.html.contains("id=\"user-menu-panel\""), "{path}");
        assert!(page.html.contains("<a href=\"/account/security\">Security</a>"), "{path}");
        assert!(
            linked(&page.html, ".js\" defer").starts_with("/static/app."),
            "{path}: the script that opens it on click"
        );
    }
    let dashboard = browser.get("/dashboard").await;
    assert_eq!(
        dashboard.inner("email").as_deref(),
        Some("alice<wbr>@example.com"),
        "a narrow screen breaks it at the @"
    );
    let script = crate::helpers::http().get(app.url("/static/app.js")).send().await.unwrap().text().await.unwrap();
    assert!(script.contains("aria-expanded") && script.contains("Escape"), "{script}");
}
