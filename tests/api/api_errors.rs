//! The error table of contract section 3: shapes and statuses for bad input.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, PASSWORD};

async fn error_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let body: Value = response.json().await.unwrap();
    let error = body["error"].as_object().expect("an error object");
    assert!(error["code"].is_string() && error["message"].is_string(), "{body}");
    (status, body)
}

#[tokio::test]
async fn malformed_json_is_a_400_and_creates_nothing() {
    let app = spawn_app().await;
    let cases: [(&str, &str); 5] = [
        ("application/json", "{\"username\": "),
        ("application/json", "not json"),
        ("application/json", "[1, 2]"),
        ("application/json", r#"{"username": 5, "email": "a@b.c", "password": "quiet otter mends the lamp"}"#),
        ("application/json", r#"{"username": "alice", "email": "a@b.c"}"#),
    ];
    for (content_type, body) in cases {
        let (status, error) = error_of(app.post_raw("/users", content_type, body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["error"]["code"], "bad_request");
    }
    let good = r#"{"username": "alice", "email": "a@b.c", "password": "quiet otter mends the lamp"}"#;
    let (status, error) = error_of(app.post_raw("/users", "text/plain", good).await).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "JSON under another type: {error}");
    assert_eq!(error["error"]["code"], "unsupported_media_type");
    let response = app.post_json("/sessions", &json!({"login": "alice", "password": PASSWORD}), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "no account was created");
}

#[tokio::test]
async fn a_password_sent_as_an_array_is_a_400() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    let response = app.post_json("/sessions", &json!({"login": "alice", "password": [PASSWORD, "x"]}), None).await;
    let (status, body) = error_of(response).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
}

#[tokio::test]
async fn a_body_over_64_kib_is_a_413_and_creates_nothing() {
    let app = spawn_app().await;
    let big =
        json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD, "pad": "x".repeat(70_000)});
    let (status, body) = error_of(app.post_json("/users", &big, None).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "too_large");
    let response = app.post_json("/sessions", &json!({"login": "alice", "password": PASSWORD}), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let answer = chunked_post(&app.base, "/api/v1/users", 80_000).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "a chunked body without Content-Length is cut off too: {answer}");
    assert!(answer.contains("\"too_large\""), "{answer}");
}

/// Sends a JSON body in chunks over a raw connection, so the server cannot
/// rely on Content-Length; returns the raw answer.
async fn chunked_post(base: &str, path: &str, len: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = "y".repeat(8192);
    for _ in 0..len / chunk.len() {
        if stream.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer
}

#[tokio::test]
async fn unknown_api_paths_and_methods_answer_in_the_error_shape() {
    let app = spawn_app().await;
    let (status, body) = error_of(app.get_api("/nothing-here", "t").await).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, _) = error_of(app.delete_api("/users", "t").await).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn healthz_answers_ok_while_the_store_answers() {
    let app = spawn_app().await;
    let response = crate::helpers::http().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "ok"}));
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::helpers::spawn_app_with(|c| c.header_read_timeout_secs = 1).await;
    let address = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream.write_all(format!("GET /login HTTP/1.1\r\nHost: {address}\r\nX-Slow: ").as_bytes()).await.unwrap();
    let mut buffer = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut buffer)).await;
    assert!(closed.is_ok(), "the server closed the connection by itself");
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let app = spawn_app().await;
    let response = crate::helpers::http().get(app.url("/login")).header("x-big", "y".repeat(100_000)).send().await;
    match response {
        Ok(response) => assert!(response.status().is_client_error(), "{}", response.status()),
        Err(e) => assert!(e.is_request() || e.is_connect() || e.to_string().contains("connection"), "{e}"),
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_security_events_by_kind() {
    let app = spawn_app().await;
    app.sign_up("alice").await;
    app.sign_in("alice").await;
    let wrong = app.post_json("/sessions", &json!({"login": "alice", "password": "not it at all"}), None).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let response = crate::helpers::http().get(app.url("/metrics")).send().await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains("latchkey_security_events_total{kind=\"signed_in\"} 1"), "{text}");
    assert!(text.contains("latchkey_security_events_total{kind=\"sign_in_failed\"} 1"), "{text}");
    assert!(
        text.contains("latchkey_http_request_duration_seconds_count{route=\"/api/v1/sessions\",status=\"201\"} 1"),
        "{text}"
    );
    assert!(text.contains("latchkey_http_request_duration_seconds_count{route=\"/api/v1/sessions\",status=\"401\"} 1"));
    assert!(text.contains("# TYPE latchkey_http_request_duration_seconds histogram"));
    assert!(text.contains("latchkey_store_connections{state=\"idle\"}"));
    assert!(!text.contains("alice"), "no user names in metrics");
    // The process metrics every exporter gives, and the version.
    let value = |name: &str| -> f64 {
        let line = text.lines().find(|line| line.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(value("process_resident_memory_bytes") > 1_000_000.0, "{text}");
    assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
    assert!(value("process_cpu_seconds_total") > 0.0, "the sign-ins' hashes took CPU");
    assert!(value("process_open_fds") >= 3.0 && value("process_max_fds") >= value("process_open_fds"));
    assert!(value("process_start_time_seconds") > 1.7e9, "a Unix time: {text}");
    let build = format!("latchkey_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    assert!(text.contains(&build), "{text}");
    assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_keeps_a_proxys() {
    let app = spawn_app().await;
    let response = crate::helpers::http().get(app.url("/healthz")).send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let response =
        crate::helpers::http().get(app.url("/login")).header("x-request-id", "from-the-proxy-1").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "from-the-proxy-1");
    for unsafe_id in ["<script>alert(1)</script>", "a b", &"x".repeat(65), "tab\there", "semi;colon"] {
        let response =
            crate::helpers::http().get(app.url("/login")).header("x-request-id", unsafe_id).send().await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert!(id.len() == 36 && id != unsafe_id, "{unsafe_id:?} is replaced by a fresh id, not echoed: {id}");
    }
}

#[tokio::test]
async fn the_openapi_description_lists_every_route_of_the_api() {
    let app = spawn_app().await;
    let response = crate::helpers::http().get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let spec: Value = response.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0", "generated by utoipa");
    let routes = [
        ("/users", "post"),
        ("/sessions", "post"),
        ("/sessions", "get"),
        ("/sessions/mfa", "post"),
        ("/sessions/current", "delete"),
        ("/sessions/others", "delete"),
        ("/sessions/{id}", "delete"),
        ("/me", "get"),
        ("/me", "delete"),
        ("/me/email", "put"),
        ("/me/email/verification", "post"),
        ("/me/export", "get"),
        ("/me/password", "put"),
        ("/password-resets", "post"),
        ("/password-resets/confirm", "post"),
        ("/me/events", "get"),
        ("/me/mfa/totp", "post"),
        ("/me/mfa/totp", "delete"),
        ("/me/mfa/totp/confirm", "post"),
        ("/me/mfa/recovery-codes", "post"),
        ("/me/mfa/recovery-codes", "get"),
        ("/me/mfa/authenticators", "get"),
        ("/me/mfa/authenticators", "post"),
        ("/me/mfa/authenticators/confirm", "post"),
        ("/me/mfa/authenticators/{id}", "delete"),
        ("/me/replay-alarm", "get"),
        ("/me/replay-alarm/clear", "post"),
        ("/me/trusted-devices", "get"),
        ("/me/trusted-devices/{id}", "delete"),
        ("/me/passkeys/options", "post"),
        ("/me/passkeys", "post"),
        ("/me/passkeys", "get"),
        ("/me/passkeys/{id}", "patch"),
        ("/me/passkeys/{id}", "delete"),
        ("/sessions/passkey/options", "post"),
        ("/sessions/passkey", "post"),
        ("/sessions/mfa/passkey/options", "post"),
        ("/me/tokens", "post"),
        ("/me/tokens", "get"),
        ("/me/tokens/{id}", "delete"),
        ("/openapi.json", "get"),
    ];
    let mut described = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            described += 1;
            assert!(
                routes.contains(&(path.as_str(), method.as_str())),
                "{method} {path} is described but not listed here"
            );
            assert!(operation["operationId"].is_string() && operation["tags"][0].is_string(), "{method} {path}");
            let answers = operation["responses"].as_object().unwrap();
            let mut shared = vec!["405", "429", "503"];
            if operation.get("requestBody").is_some() {
                shared.extend(["400", "413", "415"]);
            }
            for status in shared {
                assert!(answers.contains_key(status), "{method} {path} documents {status}");
            }
        }
    }
    assert_eq!(described, routes.len(), "every route is described");
    for (path, method) in routes {
        assert!(spec["paths"][path][method].is_object(), "{method} {path} is described");
        // And the route really exists: anything but 404 and 405.
        let status = crate::helpers::http()
            .request(method.to_uppercase().parse().unwrap(), app.url(&format!("/api/v1{}", path.replace("{id}", "x"))))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status != StatusCode::NOT_FOUND || path.contains("{id}"), "{method} {path}: {status}");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    let sign_up = &spec["components"]["schemas"]["SignUpBody"]["properties"];
    assert_eq!(sign_up["username"]["pattern"], "^[A-Za-z0-9._-]+$");
    assert_eq!(
        (sign_up["username"]["minLength"].as_u64(), sign_up["username"]["maxLength"].as_u64()),
        (Some(3), Some(32))
    );
    assert_eq!(sign_up["password"]["minLength"], 12, "the configured minimum");
    assert_eq!(sign_up["email"]["maxLength"], 254);
    let codes = spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"].to_string();
    for code in [
        "bad_request",
        "validation_failed",
        "invalid_credentials",
        "invalid_code",
        "unauthenticated",
        "account_locked",
        "csrf",
        "not_found",
        "conflict",
        "too_large",
        "rate_limited",
        "unsupported_media_type",
    ] {
        assert!(codes.contains(code), "{code}");
    }
}

/// The served document, checked by a validator no one here wrote
/// (openapi-spec-validator, from PyPI; `.ci/run` installs it).
#[tokio::test]
#[ignore = "needs openapi-spec-validator (pip install openapi-spec-validator)"]
async fn the_served_openapi_document_passes_an_independent_validator() {
    let app = spawn_app().await;
    let document =
        crate::helpers::http().get(app.url("/api/v1/openapi.json")).send().await.unwrap().text().await.unwrap();
    let file = app.data_dir.path().join("openapi.json");
    std::fs::write(&file, document).unwrap();
    let output =
        std::process::Command::new("python3").args(["-m", "openapi_spec_validator"]).arg(&file).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{said}");
    assert!(said.contains("OK"), "{said}");
}
