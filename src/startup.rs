//! Start-up: open the store, check the key, build the router, bind the port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use latchkey_core::clock::SharedClock;
use latchkey_core::{LinkMailer, SecretBox, Services, Store};
use latchkey_store_sql::{sqlite_path, Dialect, SqlStore};
use tokio::net::TcpListener;

use crate::config::{Config, PublicUrl};
use crate::http::{self, AppState, WebSettings};
use crate::mail::SmtpNotifier;
use crate::serving::Registration;
use crate::webhook::WebhookNotifier;
use crate::{data_dir, log_head, server, server_key};
use latchkey_core::events::Notifier;

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    address: SocketAddr,
    limits: server::Limits,
    head_anchor: HeadAnchor,
    registration: Registration,
    key: SecretBox,
}

/// What the security log's head is anchored with while serving.
struct HeadAnchor {
    events: latchkey_core::events::Events,
    webhook: Option<Arc<WebhookNotifier>>,
    every: Duration,
}

impl Application {
    /// Binds the listen address first (a taken port leaves nothing behind),
    /// then wires the services over the store (created if missing).
    pub async fn build(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let public_url = config.public_url(address)?;
        // Registered as serving before the key is checked, so a rotation
        // running now either sees this process or changes the key first.
        let store = open_store(&config, Opening::CreateIfMissing).await?;
        let registration = Registration::register(store.clone(), address).await.context("registering as serving")?;
        let Wired { services, outbox, key } = match wire_store(&config, store, clock, &public_url).await {
            Ok(wired) => wired,
            Err(e) => {
                registration.withdraw().await;
                return Err(e);
            }
        };
        let head_anchor = HeadAnchor {
            events: services.events.clone(),
            webhook: outbox.webhook.clone(),
            every: Duration::from_secs(config.audit_head_interval_secs),
        };
        if sqlite_path(&config.database_url()).is_some() {
            data_dir::warn_if_readable_by_others(config.data_dir());
        }
        let https = public_url.is_https();
        let web = WebSettings {
            public_url,
            support_contact: config.support_contact(),
            trusted_proxies: config.trusted_proxies.clone(),
            request_timeout: Duration::from_secs(config.request_timeout_secs),
            cookie_domain: config.cookie_domain.clone(),
            access: config.access_rules()?,
            csp: http::headers::content_security_policy(config.cookie_domain.as_deref(), https),
        };
        let router = http::router(AppState::new(services, web));
        let limits = server::Limits {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            ..server::Limits::default()
        };
        Ok(Application { listener, router, address, limits, head_anchor, registration, key })
    }

    /// The address actually bound (useful with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes the requests in
    /// flight; an error when it stopped because the store's key was
    /// rotated under it (the process must not go on with the old key).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(address = %self.address, "latchkey is listening");
        let HeadAnchor { events, webhook, every } = self.head_anchor;
        let anchor = log_head::spawn(events, webhook, every);
        let key_changed = Arc::new(tokio::sync::Notify::new());
        let heartbeat = self.registration.keep_alive(self.key, key_changed.clone());
        // Set by the stop itself, so it is known when serving ends (the
        // heartbeat task may not have returned yet when it woke the stop).
        let rotated = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = {
            let signalled = shutdown_signal();
            let rotated = rotated.clone();
            async move {
                tokio::select! {
                    () = signalled => {},
                    () = key_changed.notified() => rotated.store(true, std::sync::atomic::Ordering::SeqCst),
                }
            }
        };
        server::serve(self.listener, self.router, self.limits, stop).await;
        anchor.abort();
        let rotated = rotated.load(std::sync::atomic::Ordering::SeqCst);
        heartbeat.abort();
        // A heartbeat under way must not put the entry back after it goes.
        let _ = heartbeat.await;
        self.registration.withdraw().await;
        if rotated {
            anyhow::bail!("the store's secret key was rotated while this process served it; start it again");
        }
        Ok(())
    }
}

/// Whether opening the configured store may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// `serve`, `migrate`, `user create`: a first start makes the store.
    CreateIfMissing,
    /// Every other command: a mistyped data dir or URL must be an error, not
    /// a fresh empty store.
    MustExist,
}

/// The one wiring of Latchkey, for `serve`, the CLI and the tests: the store
/// (opened and migrated), the key checked against it, the notifiers and the
/// services. Returns the outbox too, whose sends a command must wait for
/// before it exits.
pub async fn wire(
    config: &Config,
    clock: SharedClock,
    public_url: &PublicUrl,
    opening: Opening,
) -> anyhow::Result<(Services, Outbox)> {
    let Wired { services, outbox, .. } =
        wire_store(config, open_store(config, opening).await?, clock, public_url).await?;
    Ok((services, outbox))
}

/// What [`wire_store`] made.
struct Wired {
    services: Services,
    outbox: Outbox,
    key: SecretBox,
}

/// [`wire`] over a store already open.
async fn wire_store(
    config: &Config,
    store: Arc<dyn Store>,
    clock: SharedClock,
    public_url: &PublicUrl,
) -> anyhow::Result<Wired> {
    let key = server_key::load_for_writing(store.as_ref(), config).await?;
    if config.trusted_device_days == 0 {
        // Trusting is off: records from before must not come back if it is turned on again.
        store.delete_all_trusted_devices().await.context("forgetting trusted browsers")?;
    }
    let outbox = Outbox::new(config, public_url.origin())?;
    let services =
        Services::new(store, clock, key.clone(), config.core_settings(public_url)?, outbox.notifiers(), outbox.links())
            .context("building services")?;
    Ok(Wired { services, outbox, key })
}

/// The services over the configured store and key, for a CLI command, with
/// the system clock.
pub async fn services(config: &Config, opening: Opening) -> anyhow::Result<(Services, Outbox)> {
    let clock: SharedClock = Arc::new(latchkey_core::SystemClock);
    wire(config, clock, &config.public_url(config.listen)?, opening).await
}

/// Where notices go: mail to account owners and a webhook for the
/// operator, each when configured.
pub struct Outbox {
    mailer: Option<Arc<SmtpNotifier>>,
    webhook: Option<Arc<WebhookNotifier>>,
}

impl Outbox {
    fn new(config: &Config, public_url: &str) -> anyhow::Result<Self> {
        let mailer = match (&config.smtp_url, &config.mail_from) {
            (Some(url), Some(from)) => Some(Arc::new(SmtpNotifier::new(url, from, &config.issuer, public_url)?)),
            _ => None,
        };
        let webhook = match (&config.webhook_url, &config.webhook_secret) {
            (Some(url), Some(secret)) => Some(Arc::new(WebhookNotifier::new(url, secret.expose())?)),
            _ => None,
        };
        Ok(Outbox { mailer, webhook })
    }

    fn notifiers(&self) -> Vec<Arc<dyn Notifier>> {
        let mut all: Vec<Arc<dyn Notifier>> = Vec::new();
        if let Some(mailer) = &self.mailer {
            all.push(mailer.clone());
        }
        if let Some(webhook) = &self.webhook {
            all.push(webhook.clone());
        }
        all
    }

    /// Where password reset links are mailed from, when mail is configured.
    fn links(&self) -> Option<Arc<dyn LinkMailer>> {
        self.mailer.clone().map(|mailer| mailer as Arc<dyn LinkMailer>)
    }

    /// Waits (at most `limit` for each) for the notices still being sent: a
    /// command that exits right after an action must not cut them off.
    pub async fn finish_sending(&self, limit: std::time::Duration) {
        if let Some(mailer) = &self.mailer {
            mailer.finish_sending(limit).await;
        }
        if let Some(webhook) = &self.webhook {
            webhook.finish_sending(limit).await;
        }
    }
}

/// Opens and migrates the store the configuration names. Creating an
/// SQLite store makes its data dir private first.
pub async fn open_store(config: &Config, opening: Opening) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.database_url();
    if opening == Opening::CreateIfMissing && sqlite_path(&url).is_some() {
        data_dir::create_private_dir(config.data_dir())?;
    }
    Ok(Arc::new(open_url(&url, config.database_max_connections, opening).await?))
}

/// Opens and migrates the store at `url` (a `migrate-store` source or target).
pub async fn open_url(url: &str, max_connections: u32, opening: Opening) -> anyhow::Result<SqlStore> {
    if Dialect::of_url(url).is_none() {
        anyhow::bail!("unsupported database URL: expected sqlite://PATH or postgres://…");
    }
    if let (Opening::CreateIfMissing, Some(file)) = (opening, sqlite_path(url)) {
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
    }
    let opened = match opening {
        Opening::CreateIfMissing => SqlStore::open(url, max_connections).await,
        Opening::MustExist => SqlStore::open_existing(url, max_connections).await,
    };
    let store = opened.with_context(|| format!("cannot open the database {}", redact(url)))?;
    store.migrate().await?;
    Ok(store)
}

/// A database URL fit for a message: no password (in the userinfo or a
/// `password=` parameter); a URL that does not parse shows its scheme only.
pub fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return format!("{}://…", url.split(':').next().unwrap_or("database"));
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.to_string(), if k.eq_ignore_ascii_case("password") { "***".into() } else { v.to_string() }))
        .collect();
    if !pairs.is_empty() {
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Resolves at Ctrl-C or SIGTERM. The handlers are installed now, not at
/// the first poll: a signal that comes before the server's loop first looks
/// at this future must not kill the process instead of stopping it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let (mut interrupt, mut terminate) = signals;
            let interrupt = async {
                match interrupt.as_mut() {
                    Some(signal) => drop(signal.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            let terminate = async {
                match terminate.as_mut() {
                    Some(signal) => drop(signal.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = interrupt => {},
                () = terminate => {},
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down");
    }
}
