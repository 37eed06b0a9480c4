//! Latchkey's account logic: the rules of accounts, sessions and MFA, independent of HTTP and SQL.
//!
//! The binary crate turns HTTP requests and CLI commands into calls on the
//! services here; the store crates implement [`store::Store`]. Time comes in
//! through [`clock::Clock`] so that tests can move it.

pub mod access;
pub mod accounts;
pub mod admin;
pub mod clock;
pub mod device_name;
pub mod domain;
pub mod error;
pub mod events;
pub mod mfa;
pub mod oidc;
pub mod passkeys;
pub mod password;
pub mod recovery;
pub mod secret_box;
pub mod server_key;
pub mod sessions;
pub mod store;
pub mod throttle;
pub mod token;
pub mod totp;
pub mod webauthn;

pub use accounts::{Accounts, KnownClient, LinkMailer, Offered, PasswordAccepted, RecentProof, SignIn, PROOF_LASTS};
pub use clock::{Clock, SystemClock};
pub use domain::{
    AppTokenId, AuthenticatorId, Email, GroupName, NewPassword, PasskeyId, PasswordPolicy, PublicId, SessionId,
    TrustedDeviceId, User, UserId, Username,
};
pub use error::{CoreError, FieldErrors, Refusal};
pub use events::{EventKind, EventRecord, Events};
pub use mfa::{Enrolment, Mfa, PendingSignIn, SecondStep};
pub use passkeys::Passkeys;
pub use password::PasswordHasher;
pub use secret_box::SecretBox;
pub use sessions::{ClientInfo, DeviceTrust, NewSession, Session, SessionPolicy, Sessions, SignInFrom, SignedIn};
pub use store::{Store, StoreError};
pub use webauthn::RelyingParty;

use std::sync::Arc;

/// What the services need that differs between deployments.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The issuer name authenticator apps show.
    pub issuer: String,
    /// Password rules.
    pub password: PasswordPolicy,
    /// Session timeouts.
    pub sessions: SessionPolicy,
    /// How many Argon2 hashes may run at once (each takes 19 MiB).
    pub max_concurrent_hashes: usize,
    /// How long a browser may skip the code once trusted; `None`: never.
    pub trust_devices_for: Option<time::Duration>,
    /// The WebAuthn relying party; `None`: passkeys cannot work here (the
    /// public URL's host is an IP address).
    pub relying_party: Option<RelyingParty>,
    /// The OpenID Connect clients the config file defines, checked.
    pub oidc_clients: Vec<oidc::clients::ClientRecord>,
    /// The OpenID Connect issuer: the public URL, without a trailing slash.
    pub oidc_issuer: String,
}

/// All services, built once at start and shared by the web pages, the API and the CLI.
#[derive(Clone)]
pub struct Services {
    /// Sign-up and sign-in.
    pub accounts: Accounts,
    /// Session checks, listing and revocation.
    pub sessions: Sessions,
    /// Multi-factor authentication.
    pub mfa: Mfa,
    /// The security event log.
    pub events: Events,
    /// Operator actions.
    pub admin: admin::Admin,
    /// Groups of users.
    pub groups: access::Groups,
    /// App tokens.
    pub app_tokens: access::AppTokens,
    /// Passkeys and security keys.
    pub passkeys: Passkeys,
    /// The OpenID Connect provider's keys and clients.
    pub oidc: oidc::Oidc,
    store: Arc<dyn Store>,
}

impl Services {
    /// Wires the services over one store and clock. Computes the dummy password
    /// hash, so it takes a few tens of milliseconds.
    pub fn new(
        store: Arc<dyn Store>,
        clock: clock::SharedClock,
        key: SecretBox,
        settings: Settings,
        notifiers: Vec<Arc<dyn events::Notifier>>,
        links: Option<Arc<dyn LinkMailer>>,
    ) -> Result<Self, CoreError> {
        let hasher = PasswordHasher::new(settings.max_concurrent_hashes)?;
        let events = Events::new(&store, clock.clone(), notifiers, events::ChainKey::of(&key));
        let throttle = throttle::Throttle::new(store.clone(), clock.clone());
        let sessions = Sessions::new(store.clone(), clock.clone(), settings.sessions, events.clone());
        let known_clients = accounts::KnownClientKey::of(&key);
        let relying_party = settings.relying_party.as_ref().map(RelyingParty::build).transpose()?;
        let ceremonies =
            webauthn::Ceremonies::new(relying_party, store.clone(), clock.clone(), events.clone(), throttle.clone());
        let oidc = oidc::Oidc::new(oidc::OidcParts {
            store: store.clone(),
            users: store.clone(),
            key: key.clone(),
            clock: clock.clone(),
            config_clients: settings.oidc_clients,
            issuer: settings.oidc_issuer,
            events: events.clone(),
        });
        let mfa = Mfa::new(mfa::MfaParts {
            store: store.clone(),
            clock: clock.clone(),
            key,
            hasher: hasher.clone(),
            sessions: sessions.clone(),
            events: events.clone(),
            throttle: throttle.clone(),
            issuer: settings.issuer,
            trust_devices_for: settings.trust_devices_for,
            ceremonies: ceremonies.clone(),
        });
        let passkeys = Passkeys::new(passkeys::PasskeysParts {
            ceremonies,
            store: store.clone(),
            clock: clock.clone(),
            events: events.clone(),
            sessions: sessions.clone(),
            mfa: mfa.clone(),
            throttle: throttle.clone(),
        });
        let clock_for_admin = clock.clone();
        let groups = access::Groups::new(store.clone(), clock.clone(), events.clone());
        let app_tokens = access::AppTokens::new(store.clone(), clock.clone(), events.clone());
        let accounts = Accounts::new(accounts::AccountsParts {
            users: store.clone(),
            clock,
            hasher,
            policy: settings.password,
            sessions: sessions.clone(),
            mfa: mfa.clone(),
            events: events.clone(),
            throttle: throttle.clone(),
            known_clients,
            links,
            email_links: store.clone(),
        });
        let admin = admin::Admin::new(store.clone(), clock_for_admin, sessions.clone(), events.clone(), throttle);
        Ok(Services { accounts, sessions, mfa, events, admin, groups, app_tokens, passkeys, oidc, store })
    }

    /// The store's connections: (open, idle), for `/metrics`.
    pub fn store_connections(&self) -> Option<(u32, usize)> {
        self.store.connections()
    }

    /// Whether the store answers (for `/healthz`).
    pub async fn store_is_healthy(&self) -> bool {
        self.store.ping().await.is_ok()
    }
}
