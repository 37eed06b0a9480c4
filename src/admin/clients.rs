//! `latchkey client …` and `latchkey key rotate-signing`: the OpenID Connect
//! provider's relying parties and ID token signing keys.

use latchkey_core::oidc::clients::{ClientRecord, NewClient};
use latchkey_core::oidc::keys::{PUBLISHED_AFTER_RETIREMENT, PUBLISHED_BEFORE_SIGNING};
use latchkey_core::oidc::ClientSource;
use latchkey_core::{CoreError, Refusal};
use serde_json::json;

use crate::cli::ClientCommand;
use crate::config::Config;
use crate::startup::{self, Opening};

/// `latchkey client …`.
pub async fn client(config: &Config, action: ClientCommand) -> anyhow::Result<()> {
    let (services, _outbox) = startup::services(config, Opening::MustExist).await?;
    let oidc = &services.oidc;
    match action {
        ClientCommand::Add {
            name,
            redirect_uris,
            public,
            groups,
            post_logout_uris,
            first_party,
            id_token_alg,
            json,
        } => {
            let new = NewClient {
                name,
                redirect_uris,
                public,
                groups,
                post_logout_uris,
                first_party,
                id_token_alg,
                ..NewClient::default()
            };
            let added = oidc.add_client(new).await.map_err(explain)?;
            if json {
                say!("{}", json!({"client_id": added.record.id, "client_secret": added.secret}));
            } else {
                say!("client_id:     {}", added.record.id);
                match &added.secret {
                    Some(secret) => {
                        say!("client_secret: {secret}");
                        say!("(the secret is shown this once; only its hash is kept)");
                    }
                    None => say!("a public client: no secret, PKCE (S256) is required"),
                }
            }
        }
        ClientCommand::List => {
            let all = oidc.clients().await?;
            let width = all.iter().map(|(c, _)| c.id.len()).max().unwrap_or(0).max(9);
            say!("{:width$}  {:6}  {:6}  NAME", "CLIENT_ID", "KIND", "FROM");
            for (client, source) in all {
                say!("{:width$}  {:6}  {:6}  {}", client.id, kind(&client), from(source), client.name);
            }
        }
        ClientCommand::Show { id } => {
            let Some(client) = oidc.client(&id).await? else { anyhow::bail!("there is no client {id:?}") };
            say!("client_id:        {}", client.id);
            say!("name:             {}", client.name);
            say!("kind:             {}", kind(&client));
            say!("redirect URIs:    {}", client.redirect_uris.join(" "));
            say!("post-logout URIs: {}", none_or(client.post_logout_uris.join(" ")));
            let groups: Vec<&str> = client.groups.iter().map(|g| g.as_str()).collect();
            say!("groups:           {}", none_or(groups.join(", ")));
            say!("consent:          {}", if client.first_party { "skipped (first party)" } else { "asked once" });
            say!("ID tokens:        {}", client.id_token_alg.as_str());
        }
        ClientCommand::Remove { id } => {
            if !oidc.remove_client(&id).await.map_err(explain)? {
                anyhow::bail!("there is no client {id:?}");
            }
            say!("removed client {id}");
        }
    }
    Ok(())
}

/// `latchkey key rotate-signing`.
pub async fn key_rotate_signing(config: &Config) -> anyhow::Result<()> {
    let (services, _outbox) = startup::services(config, Opening::MustExist).await?;
    for key in services.oidc.rotate_signing_keys().await? {
        say!("new {} signing key {}", key.alg.as_str(), key.kid);
    }
    let (before, after) = (PUBLISHED_BEFORE_SIGNING.whole_minutes(), PUBLISHED_AFTER_RETIREMENT.whole_hours());
    say!("they are published now and sign in {before} minutes, when relying parties have fetched them;");
    say!("the keys they replace stay published for {after} hours after that, so tokens they signed still check");
    Ok(())
}

fn kind(client: &ClientRecord) -> &'static str {
    if client.is_public() {
        "public"
    } else {
        "secret"
    }
}

fn from(source: ClientSource) -> &'static str {
    match source {
        ClientSource::Store => "cli",
        ClientSource::Config => "config",
    }
}

fn none_or(text: String) -> String {
    if text.is_empty() {
        "(none)".into()
    } else {
        text
    }
}

/// The core's refusals in the operator's words.
fn explain(error: CoreError) -> anyhow::Error {
    match error {
        CoreError::Validation(fields) => {
            anyhow::anyhow!(
                "{}",
                fields.into_iter().map(|(f, why)| format!("{f}: {why}")).collect::<Vec<_>>().join("; ")
            )
        }
        CoreError::Conflict(_) => anyhow::anyhow!("there is a client with that id already"),
        CoreError::Refused(Refusal::ClientInConfig) => {
            anyhow::anyhow!("this client is defined in the config file; remove it there")
        }
        other => other.into(),
    }
}
