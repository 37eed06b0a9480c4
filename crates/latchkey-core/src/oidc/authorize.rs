//! The authorization endpoint's rules (contract section 9, RFC 6749 section
//! 4.1, RFC 7636): who may be sent back where, with what, and the code that
//! carries it. The authorization code flow only, PKCE `S256` (required of
//! public clients, `plain` refused), exact redirect URIs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use time::Duration;

use super::clients::ClientRecord;
use super::Oidc;
use crate::domain::User;
use crate::error::CoreError;
use crate::events::{EventKind, Notice};
use crate::sessions::{ClientInfo, Session};
use crate::token::{random_token, token_hash};

/// The associated data the fresh sign-in marker is sealed with: it opens
/// only for the client it was made for.
fn marker_context(client_id: &str) -> Vec<u8> {
    format!("oidc-sent-to-sign-in:{client_id}").into_bytes()
}

/// How long an authorization code works.
pub const CODE_LASTS: Duration = Duration::seconds(60);

/// The scopes this provider knows; others asked for are left out of the grant.
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "groups", "offline_access"];

/// The query of an authorize request, as sent.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuthorizeRequest {
    /// The client.
    #[serde(default)]
    pub client_id: String,
    /// Where the answer goes; must be registered exactly.
    #[serde(default)]
    pub redirect_uri: String,
    /// Must be `code`.
    #[serde(default)]
    pub response_type: String,
    /// Space-separated scopes; `openid` required.
    #[serde(default)]
    pub scope: String,
    /// Echoed back.
    pub state: Option<String>,
    /// Put into the ID token.
    pub nonce: Option<String>,
    /// PKCE: the S256 of the verifier.
    pub code_challenge: Option<String>,
    /// PKCE: must be `S256`.
    pub code_challenge_method: Option<String>,
    /// Space-separated: `none` (answer without any page, or
    /// `login_required`), `login` (a fresh sign-in), `consent` (ask
    /// again), `select_account` (one account per browser: nothing to select).
    pub prompt: Option<String>,
    /// Must be `query` when sent.
    pub response_mode: Option<String>,
    /// Request objects are not served: refused, never ignored.
    pub request: Option<String>,
    /// Request objects by reference are not served: refused, never ignored.
    pub request_uri: Option<String>,
    /// Seconds a sign-in may be old; older ones are done again.
    pub max_age: Option<String>,
    /// Space-separated; `mfa` asks for a sign-in that passed a second factor.
    pub acr_values: Option<String>,
    /// Ours, not the client's: when this service sent the browser to sign
    /// in for this request, sealed (see [`Oidc::fresh_sign_in_marker`]).
    pub sent_to_sign_in_at: Option<String>,
}

/// The name of the parameter this service adds to an authorize request it
/// sends the browser to sign in for (the field above).
pub const SENT_TO_SIGN_IN_AT: &str = "sent_to_sign_in_at";

/// How long a sign-in done for a request counts as fresh for it: a person
/// who went to sign in and came back within this is not asked again.
pub const FRESH_FOR: Duration = Duration::minutes(10);

/// What the session is worth for a request (`prompt=login`, `max_age`,
/// `acr_values=mfa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInCheck {
    /// It will do.
    Enough,
    /// The browser goes to sign in again (and comes back).
    Again,
    /// Signed in again for this request, and still no second factor: the
    /// account has none to give.
    NoSecondFactor,
}

/// A checked request: the client and where to answer it.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The client asking.
    pub client: ClientRecord,
    /// Its registered redirect URI this request names.
    pub redirect_uri: String,
    /// The scopes to grant (known ones, `openid` first).
    pub scopes: Vec<String>,
    /// Echoed back.
    pub state: Option<String>,
    /// For the ID token.
    pub nonce: Option<String>,
    /// The PKCE challenge (S256), if one was sent.
    pub code_challenge: Option<String>,
    /// `prompt=none`: no page may be shown.
    pub prompt_none: bool,
    /// `prompt=consent`: the consent page even if consent was given before.
    pub prompt_consent: bool,
    /// `prompt=login`: a sign-in done for this request.
    pub prompt_login: bool,
    /// `max_age`: how old a sign-in may be.
    pub max_age: Option<Duration>,
    /// `acr_values` names `mfa`: a sign-in that passed a second factor.
    pub wants_mfa: bool,
    /// When this service sent the browser to sign in for this request, if
    /// it did and the marker is its own, for this client, and recent.
    pub sent_to_sign_in_at: Option<time::OffsetDateTime>,
}

impl Authorization {
    /// Whether it asks more of a sign-in than a session: `prompt=login`,
    /// `max_age` or `acr_values=mfa`.
    pub fn asks_for_sign_in(&self) -> bool {
        self.prompt_login || self.max_age.is_some() || self.wants_mfa
    }
}

/// Why an authorize request is answered with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client is unknown or the redirect URI is not one of its own: an
    /// error page, and never a redirect (it could go anywhere).
    NotRedirectable(&'static str),
    /// An RFC 6749 error sent back to the client's redirect URI.
    Redirect {
        /// The error code (`invalid_request`, `access_denied`, …).
        error: &'static str,
        /// For the developer reading it.
        description: &'static str,
    },
}

fn redirect(error: &'static str, description: &'static str) -> AuthorizeError {
    AuthorizeError::Redirect { error, description }
}

/// The answer to a user the client is not for.
pub fn denied() -> AuthorizeError {
    redirect("access_denied", "This account may not use this application.")
}

/// 43 characters of base64url: the S256 of a verifier (RFC 7636 4.2).
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What a code was issued for.
#[derive(Debug, Clone)]
pub struct CodeRecord {
    /// SHA-256 of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Whose.
    pub user_id: crate::UserId,
    /// The redirect URI of the request (the token request must repeat it).
    pub redirect_uri: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// For the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge (S256), if any.
    pub code_challenge: Option<String>,
    /// When the user signed in (the session's start).
    pub auth_time: time::OffsetDateTime,
    /// What the sign-in passed (RFC 8176 words).
    pub amr: Vec<String>,
    /// Dies at this instant.
    pub expires_at: time::OffsetDateTime,
}

impl Oidc {
    /// Checks an authorize request before anyone signs in: the client and
    /// its redirect URI first (no redirect anywhere else), then the rest,
    /// whose errors go back to the client.
    pub async fn check_authorize(&self, request: &AuthorizeRequest) -> Result<Authorization, AuthorizeError> {
        let client = match self.client(&request.client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => return Err(AuthorizeError::NotRedirectable("There is no such application (client_id).")),
            Err(_) => return Err(AuthorizeError::NotRedirectable("The service cannot look the application up now.")),
        };
        if !client.redirect_uris.contains(&request.redirect_uri) {
            return Err(AuthorizeError::NotRedirectable("The redirect_uri is not one this application registered."));
        }
        if request.response_type != "code" {
            return Err(redirect("unsupported_response_type", "Only response_type=code is served."));
        }
        let asked: Vec<&str> = request.scope.split_whitespace().collect();
        if !asked.contains(&"openid") {
            return Err(redirect("invalid_scope", "The openid scope is required."));
        }
        let scopes: Vec<String> = SCOPES.iter().filter(|s| asked.contains(s)).map(ToString::to_string).collect();
        let code_challenge = match (request.code_challenge.as_deref(), request.code_challenge_method.as_deref()) {
            (None, None) if client.is_public() => {
                return Err(redirect("invalid_request", "A public client must send a PKCE code_challenge (S256)."))
            }
            (None, None) => None,
            (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => Some(challenge.to_string()),
            (Some(_), Some("S256")) => {
                return Err(redirect("invalid_request", "The code_challenge is not an S256 one."))
            }
            _ => return Err(redirect("invalid_request", "Only code_challenge_method=S256 is accepted.")),
        };
        let prompts: Vec<&str> = request.prompt.as_deref().unwrap_or("").split_whitespace().collect();
        let prompt_none = prompts.contains(&"none");
        if prompt_none && prompts.len() > 1 {
            return Err(redirect("invalid_request", "prompt=none goes with no other prompt."));
        }
        if prompts.iter().any(|p| !matches!(*p, "none" | "login" | "consent" | "select_account")) {
            return Err(redirect("invalid_request", "Only prompt=none, login, consent and select_account are served."));
        }
        let max_age = match request.max_age.as_deref().map(str::parse::<u32>) {
            None => None,
            Some(Ok(seconds)) => Some(Duration::seconds(seconds.into())),
            Some(Err(_)) => return Err(redirect("invalid_request", "max_age is a number of seconds.")),
        };
        if request.request.is_some() {
            return Err(redirect("request_not_supported", "Request objects are not served."));
        }
        if request.request_uri.is_some() {
            return Err(redirect("request_uri_not_supported", "Request objects are not served."));
        }
        if request.response_mode.as_deref().is_some_and(|mode| mode != "query") {
            return Err(redirect("invalid_request", "Only response_mode=query is served."));
        }
        Ok(Authorization {
            redirect_uri: request.redirect_uri.clone(),
            scopes,
            state: request.state.clone(),
            nonce: request.nonce.clone(),
            code_challenge,
            prompt_none,
            prompt_consent: prompts.contains(&"consent"),
            prompt_login: prompts.contains(&"login"),
            max_age,
            wants_mfa: request.acr_values.as_deref().unwrap_or("").split_whitespace().any(|acr| acr == "mfa"),
            sent_to_sign_in_at: request
                .sent_to_sign_in_at
                .as_deref()
                .and_then(|marker| self.marker_time(marker, &client.id)),
            client,
        })
    }

    /// What `session` is worth for the request. A sign-in done after this
    /// service sent the browser to sign in for it answers `prompt=login` and
    /// `max_age=0`, so the person is asked once; any other `max_age` is
    /// measured as it stands. `acr_values=mfa` wants two factors in the
    /// sign-in (see [`SessionRecord::passed_two_factors`]): a fresh sign-in
    /// without them means the account has none to give.
    ///
    /// [`SessionRecord::passed_two_factors`]: crate::sessions::SessionRecord::passed_two_factors
    pub fn sign_in_check(&self, session: &Session, authorization: &Authorization) -> SignInCheck {
        let fresh = authorization.sent_to_sign_in_at.is_some_and(|sent| session.created_at >= sent);
        let too_old = match authorization.max_age {
            // max_age=0 is prompt=login (Core 3.1.2.1), also within the second of the sign-in.
            Some(age) if age.is_zero() => !fresh,
            Some(age) => self.clock.now() - session.created_at > age,
            None => false,
        };
        if (authorization.prompt_login && !fresh) || too_old {
            return SignInCheck::Again;
        }
        match (authorization.wants_mfa && !session.passed_two_factors(), fresh) {
            (false, _) => SignInCheck::Enough,
            (true, false) => SignInCheck::Again,
            (true, true) => SignInCheck::NoSecondFactor,
        }
    }

    /// The marker that says "sent to sign in now" on the authorize request
    /// of `client_id` that the sign-in returns to: the time, sealed under the
    /// server key with the client, so that no one can write an older one and
    /// pass off an earlier sign-in as fresh.
    pub fn fresh_sign_in_marker(&self, client_id: &str) -> String {
        let now = self.clock.now().unix_timestamp();
        URL_SAFE_NO_PAD.encode(self.key.seal(&now.to_be_bytes(), &marker_context(client_id)))
    }

    /// The time a marker of ours for `client_id` says, while it is under
    /// [`FRESH_FOR`] old.
    pub fn marker_time(&self, marker: &str, client_id: &str) -> Option<time::OffsetDateTime> {
        let sealed = URL_SAFE_NO_PAD.decode(marker).ok()?;
        let opened = self.key.open(&sealed, &marker_context(client_id)).ok()?;
        let at = time::OffsetDateTime::from_unix_timestamp(i64::from_be_bytes(opened.try_into().ok()?)).ok()?;
        let now = self.clock.now();
        (at <= now && now - at <= FRESH_FOR).then_some(at)
    }

    /// Whether `user` may use the client (a client limited to groups takes
    /// only their members): checked before any consent is asked or stored.
    pub fn may_use(&self, user: &User, authorization: &Authorization) -> bool {
        let groups = &authorization.client.groups;
        groups.is_empty() || user.groups.iter().any(|g| groups.contains(g))
    }

    /// Whether `user` must see the consent page for this request: not for
    /// a first-party client, nor when every scope was granted before.
    pub async fn needs_consent(&self, user: &User, authorization: &Authorization) -> Result<bool, CoreError> {
        if authorization.prompt_consent {
            return Ok(true);
        }
        if authorization.client.first_party {
            return Ok(false);
        }
        let granted = self.store.consented_scopes(user.id, &authorization.client.id).await?.unwrap_or_default();
        Ok(!authorization.scopes.iter().all(|scope| granted.contains(scope)))
    }

    /// Records that `user`, from `from`, let the client have the request's
    /// scopes (an `oidc_consent` event naming the client).
    pub async fn consent(
        &self,
        user: &User,
        authorization: &Authorization,
        from: &ClientInfo,
    ) -> Result<(), CoreError> {
        let now = self.clock.now();
        self.store.save_consent(user.id, &authorization.client.id, &authorization.scopes, now).await?;
        let client = &authorization.client;
        let notice = Notice::AppConnected { app: client.app_name() };
        self.events
            .record_noticed(user.id, EventKind::OidcConsent, notice, &Oidc::about(&client.name, &client.id, from))
            .await
    }

    /// A code for `user`, signed in with `session`: refused with
    /// `access_denied` when the client is limited to groups the user is in
    /// none of. Returns the code, shown once to the client.
    pub async fn issue_code(
        &self,
        user: &User,
        session: &Session,
        authorization: &Authorization,
    ) -> Result<Result<String, AuthorizeError>, CoreError> {
        if !self.may_use(user, authorization) {
            return Ok(Err(denied()));
        }
        let code = random_token();
        let now = self.clock.now();
        if authorization.client.first_party {
            // No page was shown, but "Connected apps" lists it all the same.
            self.store.save_consent(user.id, &authorization.client.id, &authorization.scopes, now).await?;
        }
        let record = CodeRecord {
            code_hash: token_hash(&code),
            client_id: authorization.client.id.clone(),
            user_id: user.id,
            redirect_uri: authorization.redirect_uri.clone(),
            scopes: authorization.scopes.clone(),
            nonce: authorization.nonce.clone(),
            code_challenge: authorization.code_challenge.clone(),
            auth_time: session.created_at,
            amr: amr(session),
            expires_at: now + CODE_LASTS,
        };
        self.store.insert_code(&record, now).await?;
        Ok(Ok(code))
    }
}

/// What the session's sign-in passed, as RFC 8176 words, each once, with
/// `mfa` when two factors were among them.
fn amr(session: &Session) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for factor in &session.factors {
        let word = factor.amr().to_string();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    if session.passed_two_factors() {
        words.push("mfa".into());
    }
    words
}
