//! Configuration: defaults, then the TOML file, then `LATCHKEY_*` variables, then flags.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use figment::providers::{Env, Format as _, Serialized, Toml};
use figment::Figment;
use latchkey_core::access::rules::{AccessRules, Policy, Rule, RuleSpec};
use latchkey_core::oidc::clients::{self as oidc_clients, ClientRecord, NewClient};
use latchkey_core::webauthn::Attestation;
use latchkey_core::{CoreError, PasswordPolicy, RelyingParty, SessionPolicy, Settings};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::cli::GlobalArgs;

/// Every setting, as read from the layers. Unknown keys in the file are errors,
/// so a typo does not silently leave a default in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory for the SQLite store and the secret key file.
    pub data_dir: PathBuf,
    /// Database URL; `sqlite://<data_dir>/latchkey.db` when unset.
    pub database_url: Option<String>,
    /// The most connections the store opens (per process).
    pub database_max_connections: u32,
    /// The URL people use; `http://<listen>` when unset.
    pub public_url: Option<String>,
    /// The issuer name authenticator apps show next to the account.
    pub issuer: String,
    /// Shown on error pages as where to get help.
    pub support_email: Option<String>,
    /// Shown on error pages as where to get help (wins over the email).
    pub support_url: Option<String>,
    /// Minimum password length (never below 8).
    pub password_min_length: usize,
    /// Seconds of inactivity after which a session dies.
    pub session_idle_timeout_secs: u64,
    /// Seconds after sign-in after which a session dies however busy.
    pub session_absolute_lifetime_secs: u64,
    /// How many Argon2 hashes may run at once (each takes 19 MiB).
    pub max_concurrent_hashes: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client; from anyone
    /// else the header is ignored and the socket's peer is the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Days a browser the user trusts skips the code; 0 turns trusting off.
    pub trusted_device_days: u32,
    /// SMTP server for notices to account owners (off when unset), e.g.
    /// `smtp://mail.internal:25` or `smtps://user:password@mail.example.org`.
    pub smtp_url: Option<String>,
    /// Sender of the notices, e.g. `Latchkey <latchkey@example.org>`.
    pub mail_from: Option<String>,
    /// Whether an account signs in only once its address is verified (needs mail).
    pub require_verified_email: bool,
    /// Where the same notices go as signed JSON for the operator's own
    /// alerting (off when unset), e.g. `https://alerts.internal/latchkey`.
    pub webhook_url: Option<String>,
    /// The shared secret the webhook bodies are signed with (HMAC-SHA256);
    /// at least 32 characters. Set it through `LATCHKEY_WEBHOOK_SECRET`.
    pub webhook_secret: Option<Secret>,
    /// The key that seals TOTP secrets at rest (32 bytes, base64), from
    /// `LATCHKEY_SECRET_KEY`; when unset, the key file in the data dir.
    pub secret_key: Option<Secret>,
    /// Seconds a client gets to send a request's headers.
    pub header_read_timeout_secs: u64,
    /// Seconds a request may take before it is answered 503.
    pub request_timeout_secs: u64,
    /// How often `serve` logs the security log's head (and posts it to the
    /// webhook) when it has moved: the anchor `audit verify --head` checks.
    pub audit_head_interval_secs: u64,
    /// Forward authentication: the policy when no access rule matches
    /// (`bypass`, `one_factor`, `two_factor` or `deny`).
    pub default_policy: String,
    /// Forward authentication: the rules, first match wins.
    pub access_rules: Vec<AccessRuleConfig>,
    /// OpenID Connect clients defined here (besides `latchkey client add`).
    pub oidc_clients: Vec<OidcClientConfig>,
    /// The parent domain of the public URL's host (e.g. `example.com`) the
    /// session cookie is set for, so one sign-in covers every protected
    /// subdomain; unset: the cookie is the public host's alone.
    pub cookie_domain: Option<String>,
    /// The WebAuthn relying party id passkeys are bound to: the public
    /// URL's host when unset, or a parent domain of it (so that passkeys
    /// keep working when Latchkey moves to another host under it).
    pub webauthn_rp_id: Option<String>,
    /// Which passkeys may be added: `none` (default: any, no attestation
    /// asked for) or `direct` (only authenticators whose attestation chains
    /// to one of `webauthn_attestation_cas` and whose model is one of
    /// `webauthn_aaguids`: for operators who require specific hardware keys).
    pub webauthn_attestation: String,
    /// With `direct`: PEM files of the vendors' attestation root certificates.
    pub webauthn_attestation_cas: Vec<PathBuf>,
    /// With `direct`: the AAGUIDs (authenticator models) allowed.
    pub webauthn_aaguids: Vec<String>,
}

/// One `[[access_rules]]` table of the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRuleConfig {
    /// Hosts: one, or a list.
    pub domain: OneOrMany,
    /// Regular expressions on the path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Methods.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Client networks.
    #[serde(default)]
    pub networks: Vec<String>,
    /// Groups, one of which the user must be in.
    #[serde(default)]
    pub groups: Vec<String>,
    /// What the rule asks.
    pub policy: String,
}

/// One `[[oidc_clients]]` table of the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcClientConfig {
    /// The `client_id` (URL-safe characters).
    pub id: String,
    /// What the consent page calls it.
    pub name: String,
    /// The secret (at least 32 URL-safe characters); absent: a public client.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Further post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_uris: Vec<String>,
    /// Groups whose members may use it; empty: everyone.
    #[serde(default)]
    pub groups: Vec<String>,
    /// No consent page.
    #[serde(default)]
    pub first_party: bool,
    /// `RS256` (the default) or `ES256`: what its ID tokens are signed with.
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
}

/// A value the file may give as one string or as a list of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// `domain = "wiki.example.com"`.
    One(String),
    /// `domain = ["wiki.example.com", "docs.example.com"]`.
    Many(Vec<String>),
}

impl OneOrMany {
    fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one.clone()],
            OneOrMany::Many(many) => many.clone(),
        }
    }
}

/// The longest session timeout accepted: a year (and no overflow in date arithmetic).
const MAX_SESSION_SECS: u64 = 365 * 24 * 3600;

/// The shortest webhook secret accepted (HMAC keys below ~128 bits invite guessing).
const MIN_WEBHOOK_SECRET_CHARS: usize = 32;

/// A secret setting: read like any string, never printed (`Debug`, and the
/// serialised form `config check` shows, say only that it is set).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("(set)")
    }
}

/// The settings' names, read off [`Config`] itself: a `LATCHKEY_<NAME>`
/// variable may set exactly these, so a new field needs no list of its own.
fn setting_names() -> anyhow::Result<Vec<String>> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(fields)) => Ok(fields.keys().cloned().collect()),
        _ => bail!("the settings' names cannot be read off the configuration type"),
    }
}

/// Settings a config file may not hold: the key that seals every TOTP
/// secret comes from the environment or the key file, never a config file
/// that is copied around and checked in.
const NOT_IN_FILES: [&str; 1] = ["secret_key"];

impl Default for Config {
    fn default() -> Self {
        let sessions = SessionPolicy::default();
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("latchkey-data"),
            database_url: None,
            database_max_connections: 8,
            public_url: None,
            issuer: "Latchkey".to_string(),
            support_email: None,
            support_url: None,
            password_min_length: PasswordPolicy::default().min_length,
            session_idle_timeout_secs: sessions.idle_timeout.whole_seconds().unsigned_abs(),
            session_absolute_lifetime_secs: sessions.absolute_lifetime.whole_seconds().unsigned_abs(),
            // One per core: more only shares the cores and the memory bandwidth
            // (measured: 2 on 2 cores signs in 6% faster than 4, in less memory).
            max_concurrent_hashes: std::thread::available_parallelism().map_or(2, usize::from),
            trusted_proxies: Vec::new(),
            trusted_device_days: 30,
            smtp_url: None,
            mail_from: None,
            require_verified_email: false,
            webhook_url: None,
            webhook_secret: None,
            secret_key: None,
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            audit_head_interval_secs: 3600,
            default_policy: "deny".to_string(),
            access_rules: Vec::new(),
            oidc_clients: Vec::new(),
            cookie_domain: None,
            webauthn_rp_id: None,
            webauthn_attestation: "none".into(),
            webauthn_attestation_cas: Vec::new(),
            webauthn_aaguids: Vec::new(),
        }
    }
}

/// The flags that override the lower layers; only those given are set.
#[derive(Debug, Default, Serialize)]
struct FlagLayer {
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<String>,
}

impl Config {
    /// Reads the layers, each beating the one before: defaults, file, environment, flags.
    pub fn load(args: &GlobalArgs) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = args.config.clone().or_else(|| std::env::var_os("LATCHKEY_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            if !path.is_file() {
                bail!("config file {} does not exist", path.display());
            }
            let file = Figment::from(Toml::file(&path));
            if let Some(name) = NOT_IN_FILES.iter().find(|name| file.find_value(name).is_ok()) {
                bail!("{name} cannot be set in a config file; use LATCHKEY_SECRET_KEY or the key file in the data dir");
            }
            figment = figment.merge(file);
        }
        let flags = FlagLayer {
            listen: args.listen,
            data_dir: args.data_dir.clone(),
            database_url: args.database.clone(),
            public_url: args.public_url.clone(),
        };
        let config: Config = figment
            .merge(Env::prefixed("LATCHKEY_").only(&setting_names()?.iter().map(String::as_str).collect::<Vec<_>>()))
            .merge(Serialized::defaults(flags))
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.password_min_length < PasswordPolicy::FLOOR || self.password_min_length > PasswordPolicy::MAX_LENGTH {
            bail!("password_min_length must be between {} and {}", PasswordPolicy::FLOOR, PasswordPolicy::MAX_LENGTH);
        }
        for (name, secs) in [
            ("session_idle_timeout_secs", self.session_idle_timeout_secs),
            ("session_absolute_lifetime_secs", self.session_absolute_lifetime_secs),
        ] {
            if !(1..=MAX_SESSION_SECS).contains(&secs) {
                bail!("{name} must be between 1 and {MAX_SESSION_SECS} (one year)");
            }
        }
        if !(1..=600).contains(&self.header_read_timeout_secs) {
            bail!("header_read_timeout_secs must be between 1 and 600");
        }
        // A throttled client is answered after a second (REFUSAL_DELAY): a
        // shorter deadline would turn its 429 into a 503.
        if !(2..=600).contains(&self.request_timeout_secs) {
            bail!("request_timeout_secs must be between 2 and 600");
        }
        if !(1..=MAX_SESSION_SECS).contains(&self.audit_head_interval_secs) {
            bail!("audit_head_interval_secs must be between 1 and {MAX_SESSION_SECS} (one year)");
        }
        if !(1..=1000).contains(&self.database_max_connections) {
            bail!("database_max_connections must be between 1 and 1000");
        }
        if self.max_concurrent_hashes == 0 || self.max_concurrent_hashes > 256 {
            bail!("max_concurrent_hashes must be between 1 and 256");
        }
        if self.issuer.trim().is_empty() || self.issuer.contains(':') {
            bail!("issuer must be a non-empty name without ':' (authenticator apps split the label on it)");
        }
        if let Some(url) = &self.public_url {
            let public = PublicUrl::parse(url)?;
            if let Some(domain) = &self.cookie_domain {
                public.check_parent_domain(domain, "cookie_domain")?;
            }
            if let Some(rp_id) = &self.webauthn_rp_id {
                public.check_parent_domain(rp_id, "webauthn_rp_id")?;
            }
        } else if self.webauthn_rp_id.is_some() {
            bail!("webauthn_rp_id needs public_url: passkeys are bound to the public host or a parent domain of it");
        } else if self.cookie_domain.is_some() {
            bail!("cookie_domain needs public_url: the public host must be the cookie domain or under it");
        }
        self.access_rules()?;
        self.oidc_clients()?;
        self.attestation()?;
        if self.trusted_device_days > 365 {
            bail!("trusted_device_days must be between 0 (off) and 365");
        }
        if self.smtp_url.is_some() && self.mail_from.is_none() {
            bail!("smtp_url is set but mail_from is not: notices need a sender");
        }
        if self.require_verified_email && self.smtp_url.is_none() {
            bail!("require_verified_email needs smtp_url and mail_from: addresses are verified with a mailed link");
        }
        if let Some(url) = &self.webhook_url {
            let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("webhook_url: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!("webhook_url must be an http:// or https:// URL");
            }
            if self.webhook_secret.as_ref().is_none_or(|s| s.expose().chars().count() < MIN_WEBHOOK_SECRET_CHARS) {
                bail!("webhook_url is set but webhook_secret is not (or shorter than {MIN_WEBHOOK_SECRET_CHARS} characters): receivers need it to check the signatures");
            }
        }
        Ok(())
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("latchkey.db").display()),
        }
    }

    /// Where the secret key file lives.
    pub fn key_file(&self) -> PathBuf {
        self.data_dir.join("secret.key")
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The public URL, given the address actually bound (which differs from
    /// `listen` when it asked for port 0).
    pub fn public_url(&self, bound: SocketAddr) -> anyhow::Result<PublicUrl> {
        match &self.public_url {
            Some(url) => PublicUrl::parse(url),
            None => PublicUrl::parse(&format!("http://{bound}")),
        }
    }

    /// The hardware keys `webauthn_attestation = "direct"` admits (the
    /// vendors' roots read and each AAGUID parsed), or `None` for `none`.
    fn attestation(&self) -> anyhow::Result<Option<Attestation>> {
        match self.webauthn_attestation.as_str() {
            "none" if self.webauthn_attestation_cas.is_empty() && self.webauthn_aaguids.is_empty() => Ok(None),
            "none" => bail!("webauthn_attestation_cas and webauthn_aaguids need webauthn_attestation = \"direct\""),
            "direct" if self.webauthn_attestation_cas.is_empty() || self.webauthn_aaguids.is_empty() => bail!(
                "webauthn_attestation = \"direct\" needs webauthn_attestation_cas (the vendors' root certificates) \
                 and webauthn_aaguids (the models allowed)"
            ),
            "direct" => {
                let roots_pem = self
                    .webauthn_attestation_cas
                    .iter()
                    .map(|path| {
                        std::fs::read(path)
                            .with_context(|| format!("webauthn_attestation_cas: reading {}", path.display()))
                    })
                    .collect::<anyhow::Result<_>>()?;
                let aaguids = self
                    .webauthn_aaguids
                    .iter()
                    .map(|text| {
                        uuid::Uuid::parse_str(text)
                            .map_err(|e| anyhow::anyhow!("webauthn_aaguids: {text:?} is not an AAGUID: {e}"))
                    })
                    .collect::<anyhow::Result<_>>()?;
                let attestation = Attestation { roots_pem, aaguids };
                attestation.check().map_err(|e| anyhow::anyhow!("webauthn_attestation_cas: {e}"))?;
                Ok(Some(attestation))
            }
            other => bail!("webauthn_attestation must be none or direct, not {other:?}"),
        }
    }

    /// The settings the core services take, for the public URL in use.
    pub fn core_settings(&self, public_url: &PublicUrl) -> anyhow::Result<Settings> {
        let secs = |s: u64| time::Duration::seconds(i64::try_from(s.min(MAX_SESSION_SECS)).unwrap_or(0));
        Ok(Settings {
            issuer: self.issuer.clone(),
            password: PasswordPolicy { min_length: self.password_min_length },
            sessions: SessionPolicy {
                idle_timeout: secs(self.session_idle_timeout_secs),
                absolute_lifetime: secs(self.session_absolute_lifetime_secs),
                require_verified_email: self.require_verified_email,
            },
            max_concurrent_hashes: self.max_concurrent_hashes,
            trust_devices_for: (self.trusted_device_days > 0)
                .then(|| time::Duration::days(i64::from(self.trusted_device_days))),
            oidc_clients: self.oidc_clients()?,
            oidc_issuer: public_url.origin().to_string(),
            relying_party: RelyingParty::for_public_url(
                public_url.origin(),
                self.webauthn_rp_id.as_deref(),
                &self.issuer,
                self.attestation()?,
            ),
        })
    }

    /// The OpenID Connect clients of the config file, checked (their
    /// secrets kept as hashes from here on).
    pub fn oidc_clients(&self) -> anyhow::Result<Vec<ClientRecord>> {
        let mut seen = std::collections::BTreeSet::new();
        self.oidc_clients
            .iter()
            .map(|client| {
                let new = NewClient {
                    id: Some(client.id.clone()),
                    name: client.name.clone(),
                    secret: client.secret.as_ref().map(|s| s.expose().to_string()),
                    public: client.secret.is_none(),
                    redirect_uris: client.redirect_uris.clone(),
                    post_logout_uris: client.post_logout_uris.clone(),
                    groups: client.groups.clone(),
                    first_party: client.first_party,
                    id_token_alg: client.id_token_signed_response_alg.clone(),
                };
                let checked = oidc_clients::check(new, time::OffsetDateTime::UNIX_EPOCH).map_err(|e| match e {
                    CoreError::Validation(fields) => {
                        let said: Vec<String> = fields.iter().map(|(field, why)| format!("{field}: {why}")).collect();
                        anyhow::anyhow!("oidc client {:?}: {}", client.id, said.join("; "))
                    }
                    other => anyhow::anyhow!("oidc client {:?}: {other}", client.id),
                })?;
                if !seen.insert(client.id.clone()) {
                    anyhow::bail!("oidc client {:?} is defined twice", client.id);
                }
                Ok(checked.record)
            })
            .collect()
    }

    /// The access rules and default policy forward authentication decides with.
    pub fn access_rules(&self) -> anyhow::Result<AccessRules> {
        let default = Policy::parse(&self.default_policy).map_err(|e| anyhow::anyhow!("default_policy: {e}"))?;
        let rules = self
            .access_rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                let spec = RuleSpec {
                    domains: rule.domain.to_vec(),
                    paths: rule.paths.clone(),
                    methods: rule.methods.clone(),
                    networks: rule.networks.clone(),
                    groups: rule.groups.clone(),
                    policy: rule.policy.clone(),
                };
                Rule::parse(&spec).map_err(|e| anyhow::anyhow!("access rule {}: {e}", index + 1))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(AccessRules::new(rules, default))
    }

    /// Where people get help, for error pages: the URL wins over the email.
    pub fn support_contact(&self) -> Option<String> {
        self.support_url.clone().or_else(|| self.support_email.as_ref().map(|e| format!("mailto:{e}")))
    }
}

/// The URL people use to reach the service: decides the expected `Origin` and
/// whether cookies are `Secure` with the `__Host-` prefix.
#[derive(Debug, Clone)]
pub struct PublicUrl {
    origin: String,
    https: bool,
    host: String,
    port: Option<u16>,
}

impl PublicUrl {
    /// Accepts `http://` and `https://` URLs with a host.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let url = Url::parse(text).with_context(|| format!("public URL {text:?} is not a URL"))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => bail!("public URL must be http or https, not {other}"),
        };
        if url.host().is_none() {
            bail!("public URL {text:?} has no host");
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        Ok(PublicUrl { origin: url.origin().ascii_serialization(), https, host, port: url.port_or_known_default() })
    }

    /// Checks that `domain`, given as `setting`, is this URL's host or a
    /// parent domain of it: a browser drops a cookie set for a domain its
    /// page is not in, and refuses a WebAuthn relying party id likewise.
    fn check_parent_domain(&self, domain: &str, setting: &str) -> anyhow::Result<()> {
        let valid = !domain.is_empty()
            && domain == domain.to_ascii_lowercase()
            && !domain.starts_with('.')
            && domain.split('.').all(|label| !label.is_empty());
        if !valid {
            bail!("{setting} {domain:?} must be a lower-case domain name without a leading dot");
        }
        if !domain.contains('.') && domain != self.host {
            bail!("{setting} {domain:?} is a top-level domain: every site under it would share it (nor may it be a public suffix such as co.uk or github.io)");
        }
        if self.host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
            bail!(
                "{setting} needs a public URL with a domain name, not an IP address (an address has no parent domain)"
            );
        }
        if !self.is_under(domain) {
            bail!("{setting} {domain:?} must be the public URL's host {:?} or a parent domain of it", self.host);
        }
        Ok(())
    }

    /// Whether this URL's host is `domain` or a subdomain of it.
    fn is_under(&self, domain: &str) -> bool {
        self.host == domain || self.host.strip_suffix(domain).is_some_and(|rest| rest.ends_with('.'))
    }

    /// The host, lower case.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, or the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `scheme://host[:port]`, as browsers send it in `Origin`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether the service is reached over TLS.
    pub fn is_https(&self) -> bool {
        self.https
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_an_environment_twin_without_a_list_to_keep() {
        let names = setting_names().unwrap();
        for name in
            ["listen", "database_url", "trusted_proxies", "webhook_secret", "secret_key", "request_timeout_secs"]
        {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let config = Config {
            webhook_secret: Some("a webhook secret of thirty-two chars".into()),
            secret_key: Some("c2VjcmV0IGtleSBtYXRlcmlhbA==".into()),
            ..Config::default()
        };
        let shown = format!("{config:?}\n{}", toml::to_string(&config).unwrap_or_default());
        assert!(!shown.contains("thirty-two") && !shown.contains("c2VjcmV0"), "{shown}");
        assert!(shown.contains("webhook_secret = \"(set)\""), "{shown}");
    }
}
