//! The command line: `serve` (the default), the operator's commands, and the flags every command takes.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Latchkey: self-hosted accounts with sign-up, sign-in and TOTP multi-factor authentication.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about)]
pub struct Cli {
    /// Flags shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every subcommand takes, so each acts on the store `serve` uses.
/// `serve`'s own flags are global too, because `latchkey` alone means `serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Database URL: sqlite://PATH (default <data-dir>/latchkey.db) [env: LATCHKEY_DATABASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Directory for the SQLite store and the secret key [default: ./latchkey-data] [env: LATCHKEY_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file [env: LATCHKEY_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080] [env: LATCHKEY_LISTEN]
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The URL people use to reach this service [default: http://<listen>] [env: LATCHKEY_PUBLIC_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub public_url: Option<String>,
    /// Log lines for people or for machines
    #[arg(long, global = true, value_enum, env = "LATCHKEY_LOG_FORMAT", default_value = "human")]
    pub log_format: LogFormat,
}

/// How log lines are written (to standard error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the web service (the default).
    Serve,
    /// Applies schema migrations, then exits.
    Migrate,
    /// Configuration.
    Config {
        /// What to do.
        #[command(subcommand)]
        action: ConfigCommand,
    },
    /// Accounts, for the support team.
    User {
        /// What to do.
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Forward authentication's access rules.
    Authz {
        /// What to do.
        #[command(subcommand)]
        action: AuthzCommand,
    },
    /// Groups of users, for access rules.
    Group {
        /// What to do.
        #[command(subcommand)]
        action: GroupCommand,
    },
    /// OpenID Connect clients (the applications that sign in through Latchkey).
    Client {
        /// What to do.
        #[command(subcommand)]
        action: ClientCommand,
    },
    /// The key that seals TOTP secrets, and the ID token signing keys.
    Key {
        /// What to do.
        #[command(subcommand)]
        action: KeyCommand,
    },
    /// Writes a consistent copy of a live SQLite store to FILE and checks it.
    Backup {
        /// Where to write the copy (must not exist).
        file: PathBuf,
    },
    /// Copies every row of one store into another, empty one (e.g. SQLite to PostgreSQL).
    MigrateStore {
        /// The store to copy from (sqlite://… or postgres://…).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The empty store to copy into; migrated first.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// The security event log.
    Audit {
        /// What to do with it.
        #[command(subcommand)]
        action: AuditCommand,
    },
}

/// `latchkey audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Checks the event log's chain under the server key; exits non-zero
    /// naming the first bad event, or the events cut off after `--head`.
    Verify {
        /// A head printed by `audit head` or logged by `serve` before: the
        /// line itself, or a file holding it (its last head line counts).
        #[arg(long, value_name = "LINE_OR_FILE")]
        head: Option<String>,
    },
    /// Prints the chain's head now (count and hash, signed) as one line.
    Head,
}

/// `latchkey user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Lists the accounts as a table.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Shows one account.
    Show {
        /// Username or email.
        name: String,
    },
    /// Creates an account; the password is read from standard input.
    Create {
        /// Username.
        name: String,
        /// Email address.
        #[arg(long)]
        email: String,
    },
    /// The user lost the device: MFA off, recovery codes void, sessions ended.
    ResetMfa {
        /// Username or email.
        name: String,
    },
    /// Locks the account and ends its sessions.
    Lock {
        /// Username or email.
        name: String,
    },
    /// Unlocks the account and clears its throttles (and a locked TOTP factor).
    Unlock {
        /// Username or email.
        name: String,
    },
    /// Ends every session of the account.
    RevokeSessions {
        /// Username or email.
        name: String,
    },
    /// Deletes the account: sessions, factors, tokens and personal data go;
    /// the security log keeps its chain. The username and address are free again.
    Delete {
        /// Username or email.
        name: String,
    },
}

/// `latchkey authz …`.
#[derive(Debug, Subcommand)]
pub enum AuthzCommand {
    /// Prints the access rule that matches a request, and the decision.
    Explain {
        /// The URL the request is for.
        url: String,
        /// Its method.
        #[arg(long, default_value = "GET")]
        method: String,
        /// Who asks (username or email), signed in with every factor the
        /// account has; left out: a visitor who is not signed in.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// The client's address.
        #[arg(long, value_name = "ADDR")]
        ip: Option<std::net::IpAddr>,
    },
}

/// `latchkey group …`.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Lists the groups with their number of members.
    List,
    /// Creates a group (its name follows the username rules).
    Create {
        /// The group's name.
        group: String,
    },
    /// Deletes a group; its members leave it.
    Delete {
        /// The group's name.
        group: String,
    },
    /// Lists a group's members.
    Members {
        /// The group's name.
        group: String,
    },
    /// Adds a user to a group.
    Add {
        /// The group's name.
        group: String,
        /// Username or email.
        user: String,
    },
    /// Removes a user from a group.
    Remove {
        /// The group's name.
        group: String,
        /// Username or email.
        user: String,
    },
}

/// `latchkey config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Prints the configuration in force (all layers applied), secrets masked.
    Check,
}

/// `latchkey key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Makes a new key and re-encrypts every TOTP secret under it, in one
    /// transaction. Stop every server first.
    Rotate,
    /// Makes new ID token signing keys (RS256, ES256); the old ones stay
    /// published for a day so tokens they signed still check. Servers may run.
    RotateSigning,
}

/// `latchkey client …`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Registers an application; prints its `client_id` and, unless it is
    /// public, its `client_secret` (shown this once, kept only as a hash).
    Add {
        /// What the consent page calls it ("Grafana").
        name: String,
        /// Where it receives the code; exact match. Repeat for several.
        #[arg(long = "redirect-uri", value_name = "URI", required = true)]
        redirect_uris: Vec<String>,
        /// No secret: the application proves itself with PKCE (a single-page or native app).
        #[arg(long)]
        public: bool,
        /// Only members of this group may sign in to it. Repeat for several.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// Where RP-initiated logout may send the browser, besides the redirect URIs.
        #[arg(long = "post-logout-uri", value_name = "URI")]
        post_logout_uris: Vec<String>,
        /// The operator's own application: no consent page.
        #[arg(long)]
        first_party: bool,
        /// What its ID tokens are signed with: RS256 (the default) or ES256.
        #[arg(long = "id-token-alg", value_name = "ALG")]
        id_token_alg: Option<String>,
        /// Prints `{"client_id", "client_secret"}` as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Lists the clients (from the store and the config file).
    List,
    /// Shows one client.
    Show {
        /// Its `client_id`.
        id: String,
    },
    /// Removes a client added here (one from the config file is removed there).
    Remove {
        /// Its `client_id`.
        id: String,
    },
}
