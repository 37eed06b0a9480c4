//! `latchkey group …`: groups of users, as access rules name them.

use anyhow::bail;
use latchkey_core::CoreError;

use super::{find_user, operator};
use crate::cli::GroupCommand;
use crate::config::Config;
use crate::startup::{self, Opening};

/// `latchkey group …`.
pub async fn group(config: &Config, action: GroupCommand) -> anyhow::Result<()> {
    let (services, outbox) = startup::services(config, Opening::MustExist).await?;
    let result = group_action(&services, action).await;
    outbox.finish_sending(std::time::Duration::from_secs(10)).await;
    result
}

/// The core's refusals in the operator's words.
fn explain(group: &str, error: CoreError) -> anyhow::Error {
    match error {
        CoreError::NotFound => anyhow::anyhow!("there is no group {group:?}"),
        CoreError::Conflict(_) => anyhow::anyhow!("there is a group {group:?} already"),
        CoreError::Validation(fields) => {
            anyhow::anyhow!("{}", fields.into_values().collect::<Vec<_>>().join("; "))
        }
        other => other.into(),
    }
}

async fn group_action(services: &latchkey_core::Services, action: GroupCommand) -> anyhow::Result<()> {
    let groups = &services.groups;
    let who = operator();
    match action {
        GroupCommand::List => {
            let listed = groups.list().await?;
            let width = listed.iter().map(|(g, _)| g.as_str().len()).max().unwrap_or(0).max(5);
            say!("{:width$}  MEMBERS", "GROUP");
            for (name, members) in listed {
                say!("{:width$}  {members}", name.as_str());
            }
        }
        GroupCommand::Create { group } => {
            let name = groups.create(&group).await.map_err(|e| explain(&group, e))?;
            say!("created group {name}");
        }
        GroupCommand::Delete { group } => {
            let members = groups.delete(&group, &who).await.map_err(|e| explain(&group, e))?;
            say!("deleted group {group}; {members} members left it");
        }
        GroupCommand::Members { group } => {
            for member in groups.members(&group).await.map_err(|e| explain(&group, e))? {
                say!("{member}");
            }
        }
        GroupCommand::Add { group, user } => {
            let user = find_user(services, &user).await?;
            if groups.add(&group, &user, &who).await.map_err(|e| explain(&group, e))? {
                say!("{} is now in group {group}", user.username);
            } else {
                say!("{} was in group {group} already: nothing changed", user.username);
            }
        }
        GroupCommand::Remove { group, user } => {
            let user = find_user(services, &user).await?;
            if groups.remove(&group, &user, &who).await.map_err(|e| explain(&group, e))? {
                say!("{} left group {group}", user.username);
            } else {
                bail!("{} is not in group {group:?}", user.username);
            }
        }
    }
    Ok(())
}
