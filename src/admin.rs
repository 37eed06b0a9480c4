//! The operator's commands: each acts on the store `serve` uses and reports
//! in one line.

use std::io::Read as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use latchkey_core::admin::Operator;
use latchkey_core::events::{same_chain, verify_chain, ChainCheck, ChainKey, Head};
use latchkey_core::server_key::LogFormat;
use latchkey_core::{ClientInfo, CoreError, User};
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use crate::cli::UserCommand;

/// `println!` that does not panic when the reader went away (`latchkey user
/// list | head`): output to a closed pipe is simply dropped.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` likewise.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}
use crate::config::Config;
use crate::startup::{self, Opening};

mod authz;
mod clients;
mod groups;
pub use authz::authz;
pub use clients::{client, key_rotate_signing};
pub use groups::group;

/// Who runs the command: the login that sudo came from, else the login.
fn operator() -> Operator {
    let name =
        ["SUDO_USER", "USER", "LOGNAME"].iter().find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()));
    Operator(name.unwrap_or_else(|| "unknown".into()))
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

/// `latchkey user …`.
pub async fn user(config: &Config, action: UserCommand) -> anyhow::Result<()> {
    let opening = match action {
        UserCommand::Create { .. } => Opening::CreateIfMissing,
        _ => Opening::MustExist,
    };
    let (services, outbox) = startup::services(config, opening).await?;
    let result = user_action(&services, action).await;
    outbox.finish_sending(std::time::Duration::from_secs(10)).await;
    result
}

/// The user with this username or email, or an error naming the name.
async fn find_user(services: &latchkey_core::Services, name: &str) -> anyhow::Result<User> {
    match services.admin.find(name).await {
        Err(CoreError::NotFound) => bail!("there is no user {name:?}"),
        other => Ok(other?),
    }
}

async fn user_action(services: &latchkey_core::Services, action: UserCommand) -> anyhow::Result<()> {
    let admin = &services.admin;
    let find = |name: String| async move { find_user(services, &name).await };
    let who = operator();
    match action {
        UserCommand::List { json } => {
            let users = admin.list().await?;
            if json {
                let list: Vec<_> = users
                    .iter()
                    .map(|u| {
                        json!({"id": u.id.to_string(), "username": u.username.as_str(), "email": u.email.as_str(),
                               "mfa_enabled": u.mfa_enabled, "locked": u.locked, "created_at": rfc3339(u.created_at),
                               "groups": u.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>()})
                    })
                    .collect();
                say!("{}", serde_json::Value::Array(list));
            } else {
                let width = users.iter().map(|u| u.username.as_str().len()).max().unwrap_or(0).max(8);
                let email_width = users.iter().map(|u| u.email.as_str().len()).max().unwrap_or(0).max(5);
                say!("{:width$}  {:email_width$}  MFA  LOCKED  CREATED", "USERNAME", "EMAIL");
                for u in &users {
                    say!(
                        "{:width$}  {:email_width$}  {:3}  {:6}  {}",
                        u.username.as_str(),
                        u.email.as_str(),
                        yes_no(u.mfa_enabled),
                        yes_no(u.locked),
                        rfc3339(u.created_at)
                    );
                }
            }
        }
        UserCommand::Show { name } => {
            let summary = admin.summary(find(name).await?).await?;
            let u = &summary.user;
            say!("username:            {}", u.username);
            say!("email:               {}{}", u.email, if u.email_verified { "" } else { " (not verified)" });
            say!("id:                  {}", u.id);
            say!("created:             {}", rfc3339(u.created_at));
            say!("mfa:                 {}", if u.mfa_enabled { "on" } else { "off" });
            say!("recovery codes left: {}", summary.recovery_codes_left);
            say!("locked:              {}", yes_no(u.locked));
            let groups: Vec<&str> = u.groups.iter().map(|g| g.as_str()).collect();
            say!("groups:              {}", if groups.is_empty() { "(none)".to_string() } else { groups.join(", ") });
            say!("active sessions:     {}", summary.sessions);
            let passkeys = services.passkeys.list(u.id).await?;
            say!("passkeys:            {}", if passkeys.is_empty() { "(none)" } else { "" });
            for p in &passkeys {
                let kind = if p.backup_eligible { "synced" } else { "device-bound" };
                let used = p.last_used_at.map_or_else(|| "never".to_string(), rfc3339);
                say!("  {}  {kind}  added {}  last used {used}", p.name, rfc3339(p.created_at));
            }
        }
        UserCommand::Create { name, email } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password).context("reading the password from standard input")?;
            let password = password.strip_suffix('\n').unwrap_or(&password);
            let password = password.strip_suffix('\r').unwrap_or(password);
            match services.accounts.sign_up(&name, &email, password, &ClientInfo::default()).await {
                Ok(user) => say!("created {} ({})", user.username, user.id),
                Err(CoreError::Validation(fields)) => {
                    let why: Vec<String> =
                        fields.iter().map(|(field, message)| format!("{field}: {message}")).collect();
                    bail!("{}", why.join("; "))
                }
                Err(CoreError::Conflict(field)) => bail!("that {field} is already taken"),
                Err(e) => return Err(e.into()),
            }
        }
        UserCommand::ResetMfa { name } => {
            let user = find(name).await?;
            match admin.reset_mfa(&user, &who).await? {
                Some(ended) => {
                    say!("MFA is off for {}; recovery codes are void; {ended} sessions ended", user.username)
                }
                None => say!("{} has MFA off: nothing to reset, nothing changed", user.username),
            }
        }
        UserCommand::Lock { name } => {
            let user = find(name).await?;
            let ended = admin.lock(&user, &who).await?;
            say!("{} is locked; {ended} sessions ended", user.username);
        }
        UserCommand::Delete { name } => {
            let user = find(name).await?;
            admin.delete(&user, &who).await?;
            say!("{} is deleted", user.username);
        }
        UserCommand::Unlock { name } => {
            let user = find(name).await?;
            admin.unlock(&user, &who).await?;
            say!("{} is unlocked", user.username);
        }
        UserCommand::RevokeSessions { name } => {
            let user = find(name).await?;
            let ended = admin.revoke_sessions(&user, &who).await?;
            say!("{ended} sessions of {} ended", user.username);
        }
    }
    Ok(())
}

/// `latchkey backup FILE`: a consistent copy of the live SQLite store, checked.
pub async fn backup(config: &Config, file: &Path) -> anyhow::Result<()> {
    if file.exists() {
        bail!("{} already exists; choose a new file", file.display());
    }
    // Opened as it is: a backup must not migrate the store it copies.
    let url = config.database_url();
    let store = latchkey_store_sql::SqlStore::open_existing(&url, 2)
        .await
        .with_context(|| format!("cannot open the store {}", startup::redact(&url)))?;
    store.backup_to(file).await?;
    say!("backup written to {} and checked", file.display());
    Ok(())
}

/// `latchkey audit verify [--head LINE_OR_FILE]`: walks the event log's
/// chain under the server key; with a head kept from before (a line, or a
/// file such as a log holding such lines: its last one counts), also checks
/// that nothing after it was cut off. Anything wrong is an error saying what.
pub async fn audit_verify(config: &Config, head: Option<&str>) -> anyhow::Result<()> {
    let store = startup::open_store(config, Opening::MustExist).await?;
    let key = keyed_log(store.as_ref(), config).await?;
    let head = match head {
        Some(given) => Some(read_head(given, &ChainKey::of(&key))?),
        None => None,
    };
    match verify_chain(store.as_ref(), &ChainKey::of(&key), head.as_ref()).await? {
        ChainCheck::Intact { events } => {
            match head {
                Some(head) => say!(
                    "audit: the security event log is intact ({events} events) and holds the head of {} events",
                    head.count
                ),
                None => say!("audit: the security event log is intact ({events} events)"),
            }
            Ok(())
        }
        ChainCheck::BrokenAt { id } => {
            bail!("audit: the security event log is broken at event {id}: it, or one before it, was changed, removed, reordered or written without the server key")
        }
        ChainCheck::Truncated { events, head } => {
            bail!("audit: the security event log holds {events} events, but the head counted {head}: events at its end were removed")
        }
        ChainCheck::HeadNotInChain { head } => {
            bail!("audit: event {head} of the log is not the one the head names: the log was rewritten after it")
        }
    }
}

/// A head given on the command line: the line itself, or a file holding it.
fn read_head(given: &str, key: &ChainKey) -> anyhow::Result<Head> {
    let text = if given.starts_with("latchkey-head:") {
        given.to_string()
    } else {
        std::fs::read_to_string(given).with_context(|| format!("cannot read the head from {given}"))?
    };
    Head::parse_signed(&text, key).map_err(|e| anyhow::anyhow!("audit: {e}"))
}

/// `latchkey audit head`: the chain's head now, one signed line to keep
/// somewhere the database's writers cannot reach.
pub async fn audit_head(config: &Config) -> anyhow::Result<()> {
    let store = startup::open_store(config, Opening::MustExist).await?;
    let key = keyed_log(store.as_ref(), config).await?;
    let head = latchkey_core::events::current_head(store.as_ref()).await?;
    say!("{}", head.line(&ChainKey::of(&key)));
    Ok(())
}

/// The server key, for the audit commands, which change nothing: the log of
/// a store from before the keyed chain is keyed by the first command that
/// writes (`serve`), never by a check.
async fn keyed_log(store: &dyn latchkey_core::Store, config: &Config) -> anyhow::Result<latchkey_core::SecretBox> {
    match crate::server_key::load(store, config).await? {
        (key, LogFormat::Keyed) => Ok(key),
        (_, LogFormat::Unkeyed) => bail!(
            "audit: the security log is still in the unkeyed format of earlier versions; start `latchkey serve` once to key it"
        ),
    }
}

/// `latchkey migrate-store --from URL --to URL`: copies every row into an
/// empty store (in one transaction there), then checks that the copy holds
/// the source's event chain, event by event (which needs no key). Serve from
/// the new store with the same secret key.
pub async fn migrate_store(config: &Config, from: &str, to: &str) -> anyhow::Result<()> {
    let source = startup::open_url(from, config.database_max_connections, Opening::MustExist).await?;
    let target = startup::open_url(to, config.database_max_connections, Opening::CreateIfMissing).await?;
    let report = source.copy_into(&target).await?;
    for (table, rows) in &report {
        say!("{table}: {rows} rows");
    }
    match same_chain(&source, &target).await? {
        Ok(events) => {
            say!("copied; the event log in the new store is intact, the same chain as the source's ({events} events)");
            Ok(())
        }
        Err(id) => bail!("the copied event log differs from the source's at event {id}"),
    }
}

/// `latchkey config check`: the configuration in force, as TOML, with the
/// database password masked and the key only named, never shown.
pub fn config_check(config: &Config) -> anyhow::Result<()> {
    let mut shown = config.clone();
    shown.database_url = Some(startup::redact(&config.database_url()));
    shown.smtp_url = config.smtp_url.as_deref().map(startup::redact);
    say_raw!("{}", toml::to_string(&shown).context("printing the configuration")?);
    let key = match config.secret_key {
        Some(_) => "from LATCHKEY_SECRET_KEY (hidden)".to_string(),
        None => format!("from {} (hidden)", config.key_file().display()),
    };
    say!("# secret key: {key}");
    let warnings = config.access_rules()?.warnings();
    for warning in &warnings {
        say!("# warning: {warning}");
    }
    say!("# the configuration is valid{}", if warnings.is_empty() { "" } else { ", with the warnings above" });
    Ok(())
}

/// `latchkey key rotate`: also prints the log's head signed with the old
/// key and with the new one, so anchors kept before and after connect (the
/// rotation re-links the chain, so heads from before no longer verify).
pub async fn key_rotate(config: &Config) -> anyhow::Result<()> {
    let store = startup::open_store(config, Opening::MustExist).await?;
    let old = crate::server_key::load_for_writing(store.as_ref(), config).await?;
    if let ChainCheck::BrokenAt { id } = verify_chain(store.as_ref(), &ChainKey::of(&old), None).await? {
        say!("warning: the security log is broken at event {id}; it stays broken there under the new key");
    }
    let before = latchkey_core::events::current_head(store.as_ref()).await?;
    let rotated = crate::server_key::rotate(store.as_ref(), &old, config).await?;
    say!("re-encrypted {} TOTP secrets under a new key", rotated.resealed);
    let after = latchkey_core::events::current_head(store.as_ref()).await?;
    say!("the security log's head before, under the old key: {}", before.line(&ChainKey::of(&old)));
    say!(
        "re-linked under the new key (older heads no longer verify); keep this one: {}",
        after.line(&ChainKey::of(&rotated.key))
    );
    match rotated.to_install {
        Some(key) => {
            say!("set LATCHKEY_SECRET_KEY to the new key on every process before starting it again:");
            say!("{key}");
        }
        None => say!(
            "the new key is in {}; the old one is kept as {} for backups made before now",
            config.key_file().display(),
            config.key_file().with_extension("key.old").display()
        ),
    }
    Ok(())
}
