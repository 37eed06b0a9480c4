//! `fixture`: fills a Latchkey store with benchmark accounts through the
//! store and the server key directly (no HTTP, no per-account Argon2 for the
//! MFA accounts), and mints pending sign-ins so that the second step can be
//! measured on its own.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use latchkey::config::Config;
use latchkey_core::sessions::ClientInfo;
use latchkey_core::store::{AuthenticatorRecord, NewUserRecord, PendingSignInRecord};
use latchkey_core::{
    Email, NewPassword, PasswordHasher, PasswordPolicy, SecretBox, SessionId, Store, User, UserId, Username,
};
use time::OffsetDateTime;

use crate::accounts;

/// How many accounts are written at once.
const WRITERS: usize = 8;

/// What to create.
#[derive(Debug, clap::Args)]
pub struct FixtureArgs {
    /// The data directory of the server that will run on the store (its key lives there).
    #[arg(long)]
    data_dir: PathBuf,
    /// The database (default: SQLite in the data directory).
    #[arg(long)]
    database: Option<String>,
    /// Accounts with MFA (`benchmfa{i}`).
    #[arg(long, default_value_t = 1000)]
    mfa_accounts: usize,
    /// Accounts without MFA (`bench{i}`), each with its own Argon2id hash.
    #[arg(long, default_value_t = 200)]
    plain_accounts: usize,
    /// Pending sign-ins to mint, one per MFA account from the first on.
    #[arg(long, default_value_t = 0)]
    pending: usize,
    /// Where the pending sign-ins' tokens go, one `INDEX TOKEN` line each.
    #[arg(long)]
    pending_out: Option<PathBuf>,
}

/// Creates the accounts and pending sign-ins.
pub async fn run(args: FixtureArgs) -> anyhow::Result<()> {
    let config = Config { data_dir: args.data_dir.clone(), database_url: args.database.clone(), ..Config::default() };
    let store = latchkey::startup::open_store(&config, latchkey::startup::Opening::CreateIfMissing).await?;
    let key = latchkey::server_key::load_for_writing(store.as_ref(), &config).await?;
    let hasher = PasswordHasher::new(2).context("the password hasher")?;
    let started = Instant::now();

    // Every MFA account shares one hash: the second step never reads it, and
    // a million Argon2 runs would take hours.
    let shared = NewPassword::parse("bench-password-of-every-mfa-account", None, PasswordPolicy::default())
        .map_err(|e| anyhow::anyhow!(e))?;
    let shared_hash: Arc<str> = hasher.admit("fixture").await?.hash(&shared).await?.into();
    let ids = create_mfa_accounts(&store, &key, &shared_hash, args.mfa_accounts).await?;
    eprintln!("{} MFA accounts in {:.1} s", args.mfa_accounts, started.elapsed().as_secs_f64());

    let started = Instant::now();
    create_plain_accounts(&store, &hasher, args.plain_accounts).await?;
    eprintln!("{} accounts without MFA in {:.1} s", args.plain_accounts, started.elapsed().as_secs_f64());

    if let Some(out) = &args.pending_out {
        let count = args.pending.min(ids.len());
        let lines = mint_pending_sign_ins(&store, &ids[..count], &shared_hash).await?;
        let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
        for (i, token) in lines {
            writeln!(file, "{i} {token}")?;
        }
        file.flush()?;
        eprintln!("{count} pending sign-ins in {}", out.display());
    }
    Ok(())
}

fn user(id: UserId, username: &str) -> anyhow::Result<User> {
    Ok(User {
        id,
        username: Username::parse(username).map_err(|e| anyhow::anyhow!(e))?,
        email: Email::parse(&format!("{username}@bench.invalid")).map_err(|e| anyhow::anyhow!(e))?,
        email_verified: false,
        mfa_enabled: false,
        locked: false,
        created_at: OffsetDateTime::now_utc(),
        groups: Vec::new(),
    })
}

/// Runs `write(i)` for every i in 0..count on [`WRITERS`] tasks, each taking every WRITERS-th.
async fn in_parallel<F, Fut>(count: usize, write: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let write = Arc::new(write);
    let mut writers = tokio::task::JoinSet::new();
    for first in 0..WRITERS {
        let write = write.clone();
        writers.spawn(async move {
            for i in (first..count).step_by(WRITERS) {
                write(i).await?;
                if i > 0 && i % 100_000 == 0 {
                    eprintln!("  {i} accounts");
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = writers.join_next().await {
        done??;
    }
    Ok(())
}

async fn create_mfa_accounts(
    store: &Arc<dyn Store>,
    key: &SecretBox,
    password_hash: &Arc<str>,
    count: usize,
) -> anyhow::Result<Vec<UserId>> {
    let ids: Arc<Vec<UserId>> = Arc::new((0..count).map(|_| UserId::random()).collect());
    let (store, key, hash, all) = (store.clone(), key.clone(), password_hash.clone(), ids.clone());
    in_parallel(count, move |i| {
        let (store, key, hash, id) = (store.clone(), key.clone(), hash.clone(), all[i]);
        async move {
            let record = NewUserRecord { user: user(id, &accounts::mfa_username(i))?, password_hash: hash.to_string() };
            store.insert_user(&record).await?;
            let authenticator = AuthenticatorRecord {
                id: format!("bench-{i}").into(),
                name: "Bench".into(),
                secret_sealed: key.seal(&accounts::mfa_secret(i), id.0.as_bytes()),
                created_at: record.user.created_at,
                last_used_step: 0,
                drift_steps: 0,
                last_used_ip: None,
            };
            anyhow::ensure!(
                store.confirm_totp(id, &authenticator, &[], &SessionId::random()).await?,
                "MFA was already on for {i}"
            );
            Ok(())
        }
    })
    .await?;
    Ok(Arc::try_unwrap(ids).unwrap_or_else(|shared| shared.as_ref().clone()))
}

async fn create_plain_accounts(store: &Arc<dyn Store>, hasher: &PasswordHasher, count: usize) -> anyhow::Result<()> {
    let (store, hasher) = (store.clone(), hasher.clone());
    in_parallel(count, move |i| {
        let (store, hasher) = (store.clone(), hasher.clone());
        async move {
            let password = NewPassword::parse(&accounts::password(i), None, PasswordPolicy::default())
                .map_err(|e| anyhow::anyhow!(e))?;
            let password_hash = hasher.admit("fixture").await?.hash(&password).await?;
            let record = NewUserRecord { user: user(UserId::random(), &accounts::plain_username(i))?, password_hash };
            store.insert_user(&record).await?;
            Ok(())
        }
    })
    .await
}

/// One pending sign-in per account, alive for an hour, as if its password
/// step had checked `password_hash`: (account index, token).
async fn mint_pending_sign_ins(
    store: &Arc<dyn Store>,
    ids: &[UserId],
    password_hash: &str,
) -> anyhow::Result<Vec<(usize, String)>> {
    let now = OffsetDateTime::now_utc();
    let fingerprint = latchkey_core::token::token_hash(password_hash);
    let tokens: Arc<Vec<String>> = Arc::new(ids.iter().map(|_| latchkey_core::token::random_token()).collect());
    let (store, all_ids, all_tokens) = (store.clone(), Arc::new(ids.to_vec()), tokens.clone());
    in_parallel(ids.len(), move |i| {
        let record = PendingSignInRecord {
            token_hash: latchkey_core::token::token_hash(&all_tokens[i]),
            user_id: all_ids[i],
            csrf_token: latchkey_core::token::random_token(),
            expires_at: now + time::Duration::hours(1),
            failures: 0,
            client: ClientInfo::default(),
            password_fingerprint: fingerprint.clone(),
        };
        let store = store.clone();
        async move { Ok(store.insert_pending_sign_in(&record, now).await?) }
    })
    .await?;
    Ok(tokens.iter().cloned().enumerate().collect())
}
