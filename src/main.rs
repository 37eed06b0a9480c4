//! `latchkey`: parse the command line, run one command, report failure in one line.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use latchkey::admin;
use latchkey::cli::{AuditCommand, Cli, Command, ConfigCommand, GlobalArgs, KeyCommand, LogFormat};
use latchkey::config::Config;
use latchkey::startup::{self, Application};
use latchkey_core::SystemClock;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print as clap formats them.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let first = e.to_string();
            let line = first.lines().next().unwrap_or("bad arguments").trim_start_matches("error: ");
            eprintln!("latchkey: {line} (see latchkey --help)");
            return ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only on a terminal, and never when NO_COLOR is set (no-color.org):
    // escape codes in a file or the journal are noise.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    match cli.global.log_format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(true).init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("latchkey: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latchkey: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None | Some(Command::Serve) => serve(&cli.global).await,
        Some(Command::Migrate) => {
            let config = Config::load(&cli.global)?;
            startup::open_store(&config, startup::Opening::CreateIfMissing).await?;
            eprintln!("latchkey: migrations applied to {}", startup::redact(&config.database_url()));
            Ok(())
        }
        Some(Command::Config { action: ConfigCommand::Check }) => admin::config_check(&Config::load(&cli.global)?),
        Some(Command::User { action }) => admin::user(&Config::load(&cli.global)?, action).await,
        Some(Command::Authz { action }) => admin::authz(&Config::load(&cli.global)?, action).await,
        Some(Command::Group { action }) => admin::group(&Config::load(&cli.global)?, action).await,
        Some(Command::Key { action: KeyCommand::Rotate }) => admin::key_rotate(&Config::load(&cli.global)?).await,
        Some(Command::Key { action: KeyCommand::RotateSigning }) => {
            admin::key_rotate_signing(&Config::load(&cli.global)?).await
        }
        Some(Command::Client { action }) => admin::client(&Config::load(&cli.global)?, action).await,
        Some(Command::Backup { file }) => admin::backup(&Config::load(&cli.global)?, &file).await,
        Some(Command::MigrateStore { from, to }) => admin::migrate_store(&Config::load(&cli.global)?, &from, &to).await,
        Some(Command::Audit { action: AuditCommand::Verify { head } }) => {
            admin::audit_verify(&Config::load(&cli.global)?, head.as_deref()).await
        }
        Some(Command::Audit { action: AuditCommand::Head }) => admin::audit_head(&Config::load(&cli.global)?).await,
    }
}

async fn serve(args: &GlobalArgs) -> anyhow::Result<()> {
    let config = Config::load(args)?;
    let app = Application::build(config, Arc::new(SystemClock)).await?;
    app.run_until_stopped().await
}
