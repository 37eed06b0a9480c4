//! `latchkey authz explain`: which access rule decides a request, and how,
//! as forward authentication would decide it.

use anyhow::Context as _;
use latchkey_core::access::rules::{Outcome, Request, Visitor};

use super::find_user;
use crate::cli::AuthzCommand;
use crate::config::Config;
use crate::startup::{self, Opening};

/// `latchkey authz …`.
pub async fn authz(config: &Config, action: AuthzCommand) -> anyhow::Result<()> {
    let AuthzCommand::Explain { url, method, user, ip } = action;
    let access = config.access_rules()?;
    let parsed = url::Url::parse(&url).with_context(|| format!("{url:?} is not an absolute URL"))?;
    let host = parsed.host_str().with_context(|| format!("{url:?} has no host"))?;
    let user = match user {
        Some(name) => {
            let (services, outbox) = startup::services(config, Opening::MustExist).await?;
            let found = find_user(&services, &name).await;
            outbox.finish_sending(std::time::Duration::from_secs(1)).await;
            Some(found?)
        }
        None => None,
    };
    let visitor = match &user {
        None => Visitor::Anonymous,
        Some(user) => {
            Visitor::SignedIn { groups: &user.groups, mfa_enabled: user.mfa_enabled, second_factor: user.mfa_enabled }
        }
    };
    let method = method.to_ascii_uppercase();
    let request = Request::new(host, parsed.path(), &method, ip).map_err(|e| anyhow::anyhow!("{url:?}: {e}"))?;
    let decision = access.decide(&request, visitor);
    match decision.rule {
        Some(index) => say!("rule {}: {}", index + 1, access.rules()[index]),
        None => say!("no rule matches: default_policy {}", decision.policy.as_str()),
    }
    let who = user.as_ref().map_or("a visitor who is not signed in".to_string(), |u| {
        let mfa = if u.mfa_enabled { "with MFA" } else { "without MFA" };
        format!("{} ({mfa})", u.username)
    });
    let outcome = match decision.outcome {
        Outcome::Allow => "allow",
        Outcome::SignIn => "sign in first (401, or a redirect to the sign-in page)",
        Outcome::SetUpMfa => "deny (403): the rule needs a second factor and the account has none",
        Outcome::SignInWithSecondFactor => "deny (403): sign in again with the second factor",
        Outcome::Deny => "deny (403)",
    };
    say!("decision for {who}: {outcome}");
    Ok(())
}
