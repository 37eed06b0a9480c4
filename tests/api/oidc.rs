//! The OpenID Connect provider's foundations (contract section 9): the
//! published signing keys, their rotation, and the clients the operator
//! registers from the command line or the config file.

use reqwest::StatusCode;
use serde_json::Value;

use crate::admin_cli::run_cli;
use crate::binary::start;

/// Runs `latchkey ARGS` on `dir` (its own SQLite store, optionally a config file).
fn latchkey(dir: &std::path::Path, args: &[&str], config: Option<&std::path::Path>) -> (bool, String, String) {
    run_cli(dir, args, "", |command| {
        command.env_remove("LATCHKEY_DATABASE_URL").env_remove("LATCHKEY_SECRET_KEY").env_remove("LATCHKEY_CONFIG");
        if let Some(config) = config {
            command.env("LATCHKEY_CONFIG", config);
        }
    })
}

async fn key_set(base: &str) -> Vec<Value> {
    let response = crate::helpers::http().get(format!("{base}/oauth2/jwks")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    response.json::<Value>().await.unwrap()["keys"].as_array().unwrap().clone()
}

fn kids(keys: &[Value]) -> Vec<String> {
    let mut kids: Vec<String> = keys.iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect();
    kids.sort();
    kids
}

#[tokio::test]
async fn the_key_set_publishes_one_rs256_and_one_es256_key_and_a_rotation_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let keys = key_set(&server.base).await;
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort();
    assert_eq!(algs, ["ES256", "RS256"]);
    for key in &keys {
        assert_eq!(key["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "no private parameter {private} in {key}");
        }
    }
    let rsa = keys.iter().find(|k| k["kty"] == "RSA").unwrap();
    assert_eq!(rsa["e"], "AQAB");
    assert!(rsa["n"].as_str().unwrap().len() >= 342, "a 2048-bit modulus");
    let before = kids(&keys);
    assert_eq!(kids(&key_set(&server.base).await), before, "made once, then the same keys");

    // The rotation runs beside the serving process, on the same store.
    let (ok, out, err) = latchkey(dir.path(), &["key", "rotate-signing"], None);
    assert!(ok && out.contains("new RS256 signing key") && out.contains("new ES256 signing key"), "{out}{err}");
    let after = kids(&key_set(&server.base).await);
    assert_eq!(after.len(), 4, "the new keys are published beside the old ones: {after:?}");
    assert!(before.iter().all(|kid| after.contains(kid)));
    let database = std::fs::read(dir.path().join("latchkey.db")).unwrap();
    let wal = std::fs::read(dir.path().join("latchkey.db-wal")).unwrap_or_default();
    assert!(database.windows(14).any(|w| w == b"oidc_signing_k") || !wal.is_empty(), "the store was read");
    for file in [database, wal] {
        assert!(!file.windows(27).any(|w| w == b"-----BEGIN PRIVATE KEY-----"), "private keys are kept sealed");
    }
}

#[tokio::test]
async fn clients_are_added_once_with_a_secret_shown_once_and_listed_shown_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    assert!(latchkey(dir.path(), &["migrate"], None).0);
    let uri = "https://grafana.example.com/login/generic_oauth";
    let add = ["client", "add", "Grafana", "--redirect-uri", uri, "--id-token-alg", "ES256", "--json"];
    let (ok, out, err) = latchkey(dir.path(), &add, None);
    assert!(ok, "{err}");
    let added: Value = serde_json::from_str(out.trim()).unwrap();
    let (id, secret) = (added["client_id"].as_str().unwrap(), added["client_secret"].as_str().unwrap());
    assert!(secret.len() >= 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let database = std::fs::read(dir.path().join("latchkey.db")).unwrap();
    let wal = std::fs::read(dir.path().join("latchkey.db-wal")).unwrap_or_default();
    for file in [database, wal] {
        assert!(!file.windows(secret.len()).any(|w| w == secret.as_bytes()), "only the secret's hash is kept");
    }

    let args =
        ["client", "add", "Web app", "--redirect-uri", "http://localhost:5173/cb", "--public", "--group", "staff"];
    let (ok, out, _) = latchkey(dir.path(), &args, None);
    assert!(ok && out.contains("a public client: no secret"), "{out}");
    let (ok, out, _) = latchkey(dir.path(), &["client", "list"], None);
    assert!(
        ok && out.contains(id) && out.contains("Grafana") && out.contains("Web app") && out.contains("public"),
        "{out}"
    );
    let (ok, out, _) = latchkey(dir.path(), &["client", "show", id], None);
    assert!(ok && out.contains(uri) && out.contains("asked once") && !out.contains(secret), "{out}");
    assert!(out.contains("ID tokens:        ES256"), "{out}");

    let bad = ["client", "add", "Bad", "--redirect-uri", "https://x.example/cb#fragment", "--group", "Not A Group"];
    let (ok, _, err) = latchkey(dir.path(), &bad, None);
    assert!(!ok && err.contains("fragment") && err.contains("groups"), "{err}");
    let (ok, out, _) = latchkey(dir.path(), &["client", "remove", id], None);
    assert!(ok && out.contains("removed client"), "{out}");
    let (ok, _, err) = latchkey(dir.path(), &["client", "remove", id], None);
    assert!(!ok && err.contains("there is no client"), "{err}");
}

#[tokio::test]
async fn clients_of_the_config_file_are_listed_checked_and_removed_only_there() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("latchkey.toml");
    let client = |secret: &str| {
        format!(
            "[[oidc_clients]]\nid = \"gitea\"\nname = \"Gitea\"\nsecret = \"{secret}\"\n\
             redirect_uris = [\"https://git.example.com/user/oauth2/latchkey/callback\"]\nfirst_party = true\n"
        )
    };
    std::fs::write(&config, client("a-secret-of-at-least-thirty-two-characters")).unwrap();
    assert!(latchkey(dir.path(), &["migrate"], Some(&config)).0);
    let (ok, out, err) = latchkey(dir.path(), &["client", "list"], Some(&config));
    assert!(ok && out.contains("gitea") && out.contains("config"), "{out}{err}");
    let (ok, out, _) = latchkey(dir.path(), &["client", "show", "gitea"], Some(&config));
    assert!(ok && out.contains("skipped (first party)"), "{out}");
    let (ok, _, err) = latchkey(dir.path(), &["client", "remove", "gitea"], Some(&config));
    assert!(!ok && err.contains("config file"), "{err}");

    std::fs::write(&config, client("short")).unwrap();
    let (ok, _, err) = latchkey(dir.path(), &["config", "check"], Some(&config));
    assert!(!ok && err.contains("gitea") && err.contains("secret"), "a weak secret stops the start: {err}");
}
