//! `floors`: what each hot path cannot avoid, measured in this process one
//! operation at a time: an Argon2id verification (password sign-in), the
//! HMAC-SHA1 window check plus one store transaction (the code step), and
//! one indexed read (`me`).

use std::path::PathBuf;
use std::time::Instant;

use latchkey::config::Config;
use latchkey_core::domain::Password;
use latchkey_core::store::AuthenticatorRecord;
use latchkey_core::totp::TotpSecret;
use latchkey_core::{Email, NewPassword, PasswordHasher, PasswordPolicy, SessionId, User, UserId, Username};
use time::OffsetDateTime;

use crate::records::{self, Floors};

/// Where to measure.
#[derive(Debug, clap::Args)]
pub struct FloorsArgs {
    /// A data directory (its SQLite store is used unless `--database` is given).
    #[arg(long)]
    data_dir: PathBuf,
    /// The database to time the store operations on.
    #[arg(long)]
    database: Option<String>,
    /// The store's name in the report ("SQLite").
    #[arg(long)]
    label: String,
    /// Where the result is appended, one JSON object per line.
    #[arg(long)]
    out: PathBuf,
}

/// Times `f` `n` times in a row; the mean, in microseconds.
async fn mean_us<F, Fut>(n: u32, mut f: F) -> anyhow::Result<f64>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    f(0).await?; // warm up
    let started = Instant::now();
    for i in 1..=n {
        f(i).await?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(n))
}

/// Measures and appends the floors.
pub async fn run(args: FloorsArgs) -> anyhow::Result<()> {
    let hasher = PasswordHasher::new(1)?;
    let typed = "a long enough password for the floor";
    let new = NewPassword::parse(typed, None, PasswordPolicy::default()).map_err(|e| anyhow::anyhow!(e))?;
    let phc = hasher.admit("floors").await?.hash(&new).await?;
    let argon2_us = mean_us(20, |_| {
        let (hasher, phc) = (hasher.clone(), phc.clone());
        async move {
            let admission = hasher.admit("floors").await?;
            anyhow::ensure!(admission.verify(&Password::new(typed), Some(&phc)).await?, "the floor's password");
            Ok(())
        }
    })
    .await?;

    let secret = TotpSecret::generate();
    let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp())?;
    let totp_window_us = mean_us(100_000, |_| {
        let miss = secret.matching_step("000000", now, 0).is_some_and(|s| s == 0);
        async move {
            std::hint::black_box(miss);
            Ok(())
        }
    })
    .await?;

    let config = Config { data_dir: args.data_dir.clone(), database_url: args.database.clone(), ..Config::default() };
    let store = latchkey::startup::open_store(&config, latchkey::startup::Opening::CreateIfMissing).await?;
    let id = UserId::random();
    let username = format!("floor{}", id.0.simple());
    let user = User {
        id,
        username: Username::parse(&username[..20]).map_err(|e| anyhow::anyhow!(e))?,
        email: Email::parse(&format!("{}@bench.invalid", &username[..20])).map_err(|e| anyhow::anyhow!(e))?,
        email_verified: false,
        mfa_enabled: false,
        locked: false,
        created_at: OffsetDateTime::now_utc(),
        groups: Vec::new(),
    };
    store.insert_user(&latchkey_core::store::NewUserRecord { user: user.clone(), password_hash: phc }).await?;
    let first = AuthenticatorRecord {
        id: format!("floor-{}", id.0.simple()).into(),
        name: "Floor".into(),
        secret_sealed: vec![0; 60],
        created_at: user.created_at,
        last_used_step: 0,
        drift_steps: 0,
        last_used_ip: None,
    };
    anyhow::ensure!(store.confirm_totp(id, &first, &[], &SessionId::random()).await?, "a fresh user");
    let store_step_us = mean_us(2_000, |i| {
        let (store, authenticator) = (store.clone(), first.id.clone());
        async move {
            let spent = store.use_totp_step(id, &authenticator, i64::from(i) + 1, 0, Some("192.0.2.1")).await?;
            anyhow::ensure!(spent, "step {i} was free");
            Ok(())
        }
    })
    .await?;
    let store_read_us = mean_us(5_000, |_| {
        let store = store.clone();
        async move {
            anyhow::ensure!(store.find_user(id).await?.is_some(), "the user exists");
            Ok(())
        }
    })
    .await?;

    let floors =
        Floors { label: args.label, argon2_ms: argon2_us / 1000.0, totp_window_us, store_step_us, store_read_us };
    records::append(&args.out, &floors)
}
