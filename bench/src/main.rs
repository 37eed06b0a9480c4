//! `latchkey-bench`: the benchmark tools `bench/run` drives. Not part of the
//! service: fixtures straight into a store, a load generator, the floors of
//! the hot paths, and the report.

mod accounts;
mod fixture;
mod floors;
mod load;
mod process;
mod records;
mod report;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Latchkey's benchmark tools (see bench/run)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fills a store with accounts (and pending sign-ins) without HTTP.
    Fixture(fixture::FixtureArgs),
    /// Sends one workload to a server for a fixed time.
    Load(load::LoadArgs),
    /// Times what each hot path cannot avoid.
    Floors(floors::FloorsArgs),
    /// Writes docs/BENCHMARKS.md from the runs.
    Report(report::ReportArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Fixture(args) => fixture::run(args).await,
        Command::Load(args) => load::run(args).await,
        Command::Floors(args) => floors::run(args).await,
        Command::Report(args) => report::run(args),
    }
}
