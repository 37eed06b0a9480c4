//! App tokens (`lk_…`): what scripts, mobile apps and API clients use where
//! no browser can sign in. A token is shown once and stored as its SHA-256;
//! it is scoped (`api`, `proxy`), optionally to hosts, optionally expires,
//! and carries the strength of the session that made it (a second factor
//! or not), so a `two_factor` access rule takes it only when that session
//! had passed one. It never stands in for a session on the account's own
//! settings: the HTTP layer only offers it where a session is not needed.

use std::sync::Arc;

use time::Duration;

use super::rules::HostPattern;
use crate::accounts::RecentProof;
use crate::clock::SharedClock;
use crate::domain::{AppTokenId, User};
use crate::error::{CoreError, FieldErrors, Refusal};
use crate::events::{EventKind, Events};
use crate::mfa::authenticators::parse_name;
use crate::sessions::{ClientInfo, Session};
use crate::store::{AppTokenRecord, Store};
use crate::token::{random_token, token_hash};

/// What every app token starts with, so that secret scanners find leaked ones.
pub const PREFIX: &str = "lk_";

/// The most app tokens one account may hold.
pub const MAX_APP_TOKENS: u32 = 50;

/// The longest lifetime a token may be given.
const MAX_DAYS: u32 = 3650;

/// The most hosts one token may be limited to.
const MAX_DOMAINS: usize = 20;

pub use crate::domain::AppTokenScope as Scope;

/// A token asked for.
#[derive(Debug, Clone, Default)]
pub struct NewAppToken<'a> {
    /// Its name; "App token" when empty.
    pub name: &'a str,
    /// Days until it stops working; `None`: never.
    pub expires_in_days: Option<u32>,
    /// Its scopes; `None`: both.
    pub scopes: Option<&'a [String]>,
    /// Hosts it passes forward authentication for; empty: any.
    pub domains: &'a [String],
}

/// A token just made: the token itself is shown this once.
#[derive(Debug, Clone)]
pub struct CreatedAppToken {
    /// `lk_` and 256 random bits.
    pub token: String,
    /// What is stored about it.
    pub info: AppTokenRecord,
}

/// App tokens: made, listed, revoked, and checked when presented.
#[derive(Clone)]
pub struct AppTokens {
    store: Arc<dyn Store>,
    clock: SharedClock,
    events: Events,
}

fn invalid(field: &'static str, message: String) -> CoreError {
    CoreError::Validation(FieldErrors::from([(field, message)]))
}

/// The scopes asked for: each known, at least one, none twice.
fn parse_scopes(asked: Option<&[String]>) -> Result<Vec<Scope>, CoreError> {
    let Some(asked) = asked else { return Ok(Scope::ALL.to_vec()) };
    let mut scopes = Vec::new();
    for word in asked {
        let scope = Scope::parse(word.trim())
            .ok_or_else(|| invalid("scopes", format!("Unknown scope {word:?}: use api and/or proxy.")))?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err(invalid("scopes", "Give at least one scope: api and/or proxy.".into()));
    }
    Ok(scopes)
}

/// The hosts asked for, folded, as access rules write them.
fn parse_domains(asked: &[String]) -> Result<Vec<String>, CoreError> {
    if asked.len() > MAX_DOMAINS {
        return Err(invalid("domains", format!("Give at most {MAX_DOMAINS} domains.")));
    }
    asked.iter().map(|d| HostPattern::parse(d).map(|p| p.to_string()).map_err(|why| invalid("domains", why))).collect()
}

impl AppTokens {
    /// Builds the service.
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, events: Events) -> Self {
        AppTokens { store, clock, events }
    }

    /// Makes a token for the session's user. Needs a recent proof of the
    /// account and, while MFA is on, a session that passed a second factor.
    pub async fn create(
        &self,
        user: &User,
        session: &Session,
        proof: &RecentProof,
        asked: &NewAppToken<'_>,
        client: &ClientInfo,
    ) -> Result<CreatedAppToken, CoreError> {
        proof.check(user)?;
        let two_factor = session.passed_second_factor();
        if user.mfa_enabled && !two_factor {
            return Err(CoreError::Refused(Refusal::SecondFactorRequired));
        }
        let name = parse_name(asked.name, "App token")?;
        let expires_in = match asked.expires_in_days {
            Some(days) if !(1..=MAX_DAYS).contains(&days) => {
                return Err(invalid("expires_in_days", format!("Give 1 to {MAX_DAYS} days, or leave it out.")));
            }
            days => days.map(|d| Duration::days(i64::from(d))),
        };
        let scopes = parse_scopes(asked.scopes)?;
        let domains = parse_domains(asked.domains)?;
        let now = self.clock.now();
        let token = format!("{PREFIX}{}", random_token());
        let info = AppTokenRecord {
            id: AppTokenId::random(),
            user_id: user.id,
            name,
            token_hash: token_hash(&token),
            scopes,
            domains,
            two_factor,
            created_at: now,
            expires_at: expires_in.map(|lasts| now + lasts),
            last_used_at: None,
            last_used_ip: None,
        };
        if !self.store.insert_app_token(&info, MAX_APP_TOKENS).await? {
            return Err(CoreError::Refused(Refusal::TooManyAppTokens));
        }
        self.events.record(user.id, EventKind::AppTokenCreated, client).await?;
        Ok(CreatedAppToken { token, info })
    }

    /// The user's tokens, newest first.
    pub async fn list(&self, user: &User) -> Result<Vec<AppTokenRecord>, CoreError> {
        Ok(self.store.list_app_tokens(user.id).await?)
    }

    /// Revokes one of the user's tokens; another's id is [`CoreError::NotFound`].
    pub async fn revoke(&self, user: &User, id: &AppTokenId, client: &ClientInfo) -> Result<(), CoreError> {
        if !self.store.delete_app_token(user.id, id).await? {
            return Err(CoreError::NotFound);
        }
        self.events.record(user.id, EventKind::AppTokenRevoked, client).await
    }

    /// The live token presented for `scope` (and, for `proxy`, the host
    /// asked for), with its user; anything else is
    /// [`CoreError::Unauthenticated`]. Records the use to the minute, and
    /// a use from another address than the last as a security event.
    pub async fn authenticate(
        &self,
        token: &str,
        scope: Scope,
        host: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(AppTokenRecord, User), CoreError> {
        if !token.starts_with(PREFIX) {
            return Err(CoreError::Unauthenticated);
        }
        let now = self.clock.now();
        let (record, user) =
            self.store.find_app_token(&token_hash(token), now).await?.ok_or(CoreError::Unauthenticated)?;
        // Hosts limit forward authentication only; the API has no host to name.
        let host_allowed = scope != Scope::Proxy
            || record.domains.is_empty()
            || host.is_some_and(|host| {
                record.domains.iter().filter_map(|d| HostPattern::parse(d).ok()).any(|p| p.matches(host))
            });
        if user.locked || !record.scopes.contains(&scope) || !host_allowed {
            return Err(CoreError::Unauthenticated);
        }
        let minute = now.replace_second(0).unwrap_or(now).replace_nanosecond(0).unwrap_or(now);
        let ip = client.ip.as_deref();
        if record.last_used_at != Some(minute) || record.last_used_ip.as_deref() != ip {
            let new_address = self.store.record_app_token_use(&record.id, minute, ip).await?;
            if new_address {
                self.events.record(user.id, EventKind::AppTokenUsedFromNewAddress, client).await?;
            }
        }
        Ok((record, user))
    }
}
