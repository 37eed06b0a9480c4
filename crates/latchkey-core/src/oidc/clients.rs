//! The relying parties (contract section 9): applications registered with
//! `latchkey client add` (kept in the store) or in the config file's
//! `[[oidc_clients]]` (kept in memory). A confidential client's secret is
//! shown once and kept as its SHA-256 (256 random bits need no slow hash),
//! compared in constant time; a public client has none and proves itself
//! with PKCE.

use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use super::keys::SigningAlg;
use crate::domain::GroupName;
use crate::error::{CoreError, FieldErrors};
use crate::events::AppName;
use crate::token::{random_token, token_hash};

/// The shortest secret a config file may give a client.
pub const MIN_CONFIG_SECRET_CHARS: usize = 32;

/// A client as stored (or read from the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The `client_id`: URL-safe characters only.
    pub id: String,
    /// What the consent page and the lists call it.
    pub name: String,
    /// SHA-256 of the secret; `None`: a public client.
    pub secret_hash: Option<String>,
    /// The redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser, besides the redirect URIs.
    pub post_logout_uris: Vec<String>,
    /// The groups whose members may sign in to it; empty: everyone.
    pub groups: Vec<GroupName>,
    /// A client of the operator's own: no consent page.
    pub first_party: bool,
    /// What its ID tokens are signed with (`id_token_signed_response_alg`).
    pub id_token_alg: SigningAlg,
    /// When it was added.
    pub created_at: OffsetDateTime,
}

impl ClientRecord {
    /// Whether `offered` is the client's secret (constant time; a public
    /// client has none, so nothing matches).
    pub fn secret_matches(&self, offered: &str) -> bool {
        self.secret_hash.as_ref().is_some_and(|stored| stored.as_bytes().ct_eq(token_hash(offered).as_bytes()).into())
    }

    /// How notices name it.
    pub fn app_name(&self) -> AppName {
        AppName { client_id: self.id.clone(), name: self.name.clone() }
    }

    /// Whether the client is public (no secret: PKCE is its proof).
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
}

/// A client to add, as the operator describes it.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// Its `client_id`; `None`: a random one (the CLI's way).
    pub id: Option<String>,
    /// Its name.
    pub name: String,
    /// Its secret; `None` with `public` false: a random one.
    pub secret: Option<String>,
    /// No secret: PKCE only.
    pub public: bool,
    /// Its redirect URIs (at least one).
    pub redirect_uris: Vec<String>,
    /// Its further post-logout URIs.
    pub post_logout_uris: Vec<String>,
    /// The groups it is limited to.
    pub groups: Vec<String>,
    /// No consent page.
    pub first_party: bool,
    /// `RS256` (the default) or `ES256`: what its ID tokens are signed with.
    pub id_token_alg: Option<String>,
}

/// A client checked and ready to keep, with its secret in clear (shown once).
#[derive(Debug, Clone)]
pub struct CheckedClient {
    /// What is kept.
    pub record: ClientRecord,
    /// The secret, for the operator's eyes once; `None` for a public client.
    pub secret: Option<String>,
}

fn url_safe(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// An absolute `http(s)` URI without a fragment, as redirect URIs must be
/// (RFC 6749 section 3.1.2).
fn redirect_uri_problem(uri: &str) -> Option<String> {
    match url::Url::parse(uri) {
        Ok(url) if !matches!(url.scheme(), "http" | "https") => Some(format!("{uri}: not an http(s) URI")),
        Ok(url) if url.fragment().is_some() => Some(format!("{uri}: a redirect URI has no fragment")),
        Ok(url) if url.host().is_none() => Some(format!("{uri}: no host")),
        Ok(_) => None,
        Err(e) => Some(format!("{uri}: {e}")),
    }
}

/// Checks a client description: every rule broken is reported, by field.
pub fn check(new: NewClient, now: OffsetDateTime) -> Result<CheckedClient, CoreError> {
    let mut errors = FieldErrors::new();
    let id = new.id.unwrap_or_else(|| random_token()[..22].to_string());
    if id.is_empty() || id.len() > 64 || !url_safe(&id) {
        errors.insert("id", "A client id is 1 to 64 characters of A-Z a-z 0-9 - . _ ~".into());
    }
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        errors.insert("name", "A client's name is 1 to 64 characters, none of them control characters.".into());
    }
    if new.redirect_uris.is_empty() {
        errors.insert("redirect_uris", "A client needs at least one redirect URI.".into());
    }
    let problems: Vec<String> = new.redirect_uris.iter().filter_map(|uri| redirect_uri_problem(uri)).collect();
    if !problems.is_empty() {
        errors.insert("redirect_uris", problems.join("; "));
    }
    let problems: Vec<String> = new.post_logout_uris.iter().filter_map(|uri| redirect_uri_problem(uri)).collect();
    if !problems.is_empty() {
        errors.insert("post_logout_uris", problems.join("; "));
    }
    let mut groups = Vec::new();
    for group in &new.groups {
        match GroupName::parse(group) {
            Ok(name) => groups.push(name),
            Err(e) => {
                errors.insert("groups", format!("{group}: {e}"));
            }
        }
    }
    let id_token_alg = match new.id_token_alg.as_deref() {
        None => SigningAlg::Rs256,
        Some(name) => SigningAlg::parse(name).unwrap_or_else(|| {
            errors.insert("id_token_alg", "ID tokens are signed RS256 or ES256.".into());
            SigningAlg::Rs256
        }),
    };
    let secret = match (new.public, new.secret) {
        (true, Some(_)) => {
            errors.insert("secret", "A public client has no secret.".into());
            None
        }
        (true, None) => None,
        (false, Some(secret)) => {
            if secret.len() < MIN_CONFIG_SECRET_CHARS || !url_safe(&secret) {
                let rule = format!("A client secret is at least {MIN_CONFIG_SECRET_CHARS} URL-safe characters.");
                errors.insert("secret", rule);
            }
            Some(secret)
        }
        (false, None) => Some(random_token()),
    };
    if !errors.is_empty() {
        return Err(CoreError::Validation(errors));
    }
    groups.sort();
    groups.dedup();
    let record = ClientRecord {
        id,
        name,
        secret_hash: secret.as_deref().map(token_hash),
        redirect_uris: new.redirect_uris,
        post_logout_uris: new.post_logout_uris,
        groups,
        first_party: new.first_party,
        id_token_alg,
        created_at: now,
    };
    Ok(CheckedClient { record, secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uris: &[&str]) -> NewClient {
        NewClient {
            name: "Grafana".into(),
            redirect_uris: uris.iter().map(ToString::to_string).collect(),
            ..NewClient::default()
        }
    }

    #[test]
    fn a_confidential_client_gets_a_url_safe_secret_kept_as_a_hash() {
        let checked =
            check(client(&["https://grafana.example.com/login/generic_oauth"]), OffsetDateTime::UNIX_EPOCH).unwrap();
        let secret = checked.secret.unwrap();
        assert!(secret.len() >= 43 && url_safe(&secret) && url_safe(&checked.record.id));
        assert!(checked.record.secret_matches(&secret));
        assert!(!checked.record.secret_matches(&secret[1..]));
        assert_ne!(checked.record.secret_hash.as_deref(), Some(secret.as_str()), "only a hash is kept");
    }

    #[test]
    fn bad_descriptions_are_refused_field_by_field() {
        let bad = NewClient {
            id: Some("has space".into()),
            name: String::new(),
            secret: Some("short".into()),
            groups: vec!["Not A Group!".into()],
            id_token_alg: Some("none".into()),
            ..client(&["ftp://x.example/cb", "https://x.example/cb#frag", "/relative"])
        };
        let Err(CoreError::Validation(errors)) = check(bad, OffsetDateTime::UNIX_EPOCH) else { panic!("refused") };
        for field in ["id", "name", "secret", "groups", "redirect_uris", "id_token_alg"] {
            assert!(errors.contains_key(field), "{field}: {errors:?}");
        }
        let public = NewClient { public: true, ..client(&["http://localhost:3000/cb"]) };
        let checked = check(public, OffsetDateTime::UNIX_EPOCH).unwrap();
        assert!(checked.secret.is_none() && checked.record.is_public() && !checked.record.secret_matches(""));
    }
}
