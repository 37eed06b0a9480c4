//! `report`: turns the runs' JSON lines into `docs/BENCHMARKS.md` (a table
//! per workload with the ratios against Parse Server, and the cost model)
//! and an SVG plot of the code step's latency against the account count.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::load::{Target, Workload};
use crate::records::{self, Floors, Run};

/// Where the runs are and where the report goes.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The load runs (`load --out`).
    #[arg(long)]
    results: PathBuf,
    /// The floors (`floors --out`).
    #[arg(long)]
    floors: PathBuf,
    /// Scaling runs (`load --out`, the code step at several account counts).
    #[arg(long)]
    scaling: Option<PathBuf>,
    /// A Markdown file about the machine, versions and command, put in as is.
    #[arg(long)]
    about: PathBuf,
    /// Profiles (`perf report` text), one file each, named `WORKLOAD.txt`.
    #[arg(long)]
    profiles: Option<PathBuf>,
    /// The fairness runs (`load --out`): the trickle alone, the trickle
    /// under a flood, and the flood.
    #[arg(long)]
    fairness: Option<PathBuf>,
    /// The Markdown report to write.
    #[arg(long)]
    out: PathBuf,
    /// The SVG plot to write (linked from the report by its file name).
    #[arg(long)]
    plot: PathBuf,
}

const WORKLOADS: [(Workload, &str); 5] = [
    (Workload::Me, "`me`: `GET /api/v1/me` with a bearer token (Parse: `GET /parse/users/me`)"),
    (
        Workload::Forward,
        "`forward`: forward authentication, `GET /auth/forward` as a reverse proxy asks it for each request of a protected application, with a signed-in browser's session cookie; ten access rules, the last one matching (Parse has none; compare with `me` above)",
    ),
    (
        Workload::SigninMfa,
        "`signin-mfa`: the code step, `POST /api/v1/sessions/mfa`, each code fresh and right (Parse: `POST /parse/login` with `authData.mfa.token`, which checks the password too: Parse has no separate code step)",
    ),
    (Workload::SigninPassword, "`signin-password`: `POST /api/v1/sessions` for accounts without MFA (Parse: `POST /parse/login`)"),
    (Workload::Mixed, "`mixed`: 90% `me`, 8% code steps, 2% password sign-ins"),
];

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

fn setting(run: &Run) -> String {
    match run.rate {
        Some(rate) => format!("{} conns, {rate:.0}/s offered", run.connections),
        None => format!("{} conns, closed loop", run.connections),
    }
}

/// Writes the report and the plot.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let runs: Vec<Run> = records::read(&args.results)?;
    let floors: Vec<Floors> = records::read(&args.floors)?;
    let scaling: Vec<Run> = match &args.scaling {
        Some(file) => records::read(file)?,
        None => Vec::new(),
    };
    let about = std::fs::read_to_string(&args.about)?;
    let mut md = String::new();
    writeln!(md, "# Benchmarks: Latchkey and Parse Server, side by side\n")?;
    writeln!(
        md,
        "Written by `bench/run` (do not edit by hand); every figure below comes from one run on one machine.\n"
    )?;
    writeln!(md, "{about}\n")?;
    for (workload, title) in WORKLOADS {
        let of_workload: Vec<&Run> = runs.iter().filter(|r| r.workload == workload).collect();
        if of_workload.is_empty() {
            continue;
        }
        let parse = of_workload.iter().copied().find(|r| r.target == Target::Parse && r.rate.is_none());
        writeln!(md, "## {title}\n")?;
        writeln!(
            md,
            "| system | setting | req/s | × Parse | p50 ms | p99 ms | p99.9 ms | errors | peak RSS MiB | server CPU ms/req |"
        )?;
        writeln!(md, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")?;
        for run in &of_workload {
            let ratio = parse
                .filter(|p| p.requests_per_second > 0.0 && run.rate.is_none())
                .map(|p| run.requests_per_second / p.requests_per_second);
            writeln!(
                md,
                "| {} | {} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {} of {} | {} | {} |",
                run.label,
                setting(run),
                run.requests_per_second,
                opt(ratio, 1),
                run.p50_ms,
                run.p99_ms,
                run.p999_ms,
                run.errors,
                run.requests,
                opt(run.peak_rss_mib, 0),
                opt(run.cpu_ms_per_request, 3),
            )?;
        }
        writeln!(md)?;
    }
    cost_model(&mut md, &runs, &floors)?;
    if let Some(file) = &args.fairness {
        fairness(&mut md, &records::read(file)?)?;
    }
    if !scaling.is_empty() {
        let name = args.plot.file_name().and_then(|n| n.to_str()).unwrap_or("bench-scaling.svg");
        writeln!(md, "## The code step against the number of accounts\n")?;
        writeln!(md, "![Code-step latency against account count]({name})\n")?;
        writeln!(md, "| system | accounts | req/s | p50 ms | p99 ms | errors |")?;
        writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: |")?;
        for run in &scaling {
            writeln!(
                md,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {} of {} |",
                run.label, run.mfa_accounts, run.requests_per_second, run.p50_ms, run.p99_ms, run.errors, run.requests
            )?;
        }
        writeln!(md)?;
        std::fs::write(&args.plot, plot(&scaling))?;
    }
    if let Some(dir) = &args.profiles {
        profiles(&mut md, dir)?;
    }
    std::fs::write(&args.out, md)?;
    Ok(())
}

/// A flood from a few addresses against a trickle of right sign-ins from
/// others: the trickle's latency alone and under the flood, and what the
/// flood got (by status).
fn fairness(md: &mut String, runs: &[Run]) -> anyhow::Result<()> {
    let trickle: Vec<&Run> = runs.iter().filter(|r| r.workload == Workload::SigninPassword).collect();
    let (Some(alone), Some(flooded)) = (trickle.first(), trickle.get(1)) else { return Ok(()) };
    writeln!(
        md,
        "## Fairness: a flood from a few addresses against right sign-ins from others
"
    )?;
    writeln!(
        md,
        "Hardening round two, item 1: the trickle is right password sign-ins, each connection from an address of its own, at a fixed rate; the flood is sign-ups with new and taken names and wrong passwords for unknown names, closed loop, from a handful of addresses (every connection sends from a loopback address of its own choosing, `--source-addresses`). The goal: the trickle's latency under the flood within 2× of its latency alone.\n"
    )?;
    writeln!(md, "| run | setting | req/s | p50 ms | p99 ms | p99.9 ms | answers by status |")?;
    writeln!(md, "| --- | --- | ---: | ---: | ---: | ---: | --- |")?;
    for run in runs {
        let statuses: Vec<String> = run.statuses.iter().map(|(status, n)| format!("{status}: {n}")).collect();
        writeln!(
            md,
            "| {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {} |",
            run.label,
            setting(run),
            run.requests_per_second,
            run.p50_ms,
            run.p99_ms,
            run.p999_ms,
            statuses.join(", ")
        )?;
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    writeln!(
        md,
        "\nUnder the flood the trickle's p50 is {:.2}× and its p99 {:.2}× its latency alone.\n",
        ratio(flooded.p50_ms, alone.p50_ms),
        ratio(flooded.p99_ms, alone.p99_ms)
    )?;
    Ok(())
}

/// Per-request server CPU against what the path cannot avoid.
fn cost_model(md: &mut String, runs: &[Run], floors: &[Floors]) -> anyhow::Result<()> {
    writeln!(md, "## The cost model\n")?;
    writeln!(
        md,
        "Server CPU per request (user + system time of the server process over the closed-loop run, divided by \
         its requests; the database server's own CPU is not in it) against the floor of each path, measured \
         one operation at a time by `latchkey-bench floors` on the same machine.\n"
    )?;
    writeln!(md, "| store | path | server CPU µs/req | floor | floor µs | CPU ÷ floor |")?;
    writeln!(md, "| --- | --- | ---: | --- | ---: | ---: |")?;
    for floor in floors {
        let measured = |workload: Workload| {
            runs.iter()
                .find(|r| r.workload == workload && r.rate.is_none() && r.label.ends_with(&floor.label))
                .and_then(|r| r.cpu_ms_per_request)
                .map(|ms| ms * 1000.0)
        };
        let paths = [
            (Workload::Me, "one indexed read (a user by id)", floor.store_read_us),
            (Workload::SigninMfa, "3 × HMAC-SHA1 + one store transaction", floor.totp_window_us + floor.store_step_us),
            (Workload::SigninPassword, "one Argon2id verification", floor.argon2_ms * 1000.0),
        ];
        for (workload, what, floor_us) in paths {
            let cpu = measured(workload);
            writeln!(
                md,
                "| {} | `{}` | {} | {what} | {floor_us:.0} | {} |",
                floor.label,
                workload.name(),
                opt(cpu, 0),
                opt(cpu.map(|c| c / floor_us), 1)
            )?;
        }
    }
    writeln!(
        md,
        "\nA floor is the wall time of one operation done alone (for the store, with its round trip to \
         PostgreSQL or to the SQLite connection's thread), so a path that overlaps such waits across requests \
         can spend less CPU than its floor. What the code step spends beyond its floor goes to its other store \
         calls (claiming the pending sign-in, the throttle, the new session, the hash-chained event: about a \
         dozen round trips) and, on SQLite, to handing each of them to the connection's own thread and back \
         (sqlx runs every SQLite connection on a thread fed by a channel): the profiles below show that as \
         `futex` and `finish_task_switch`."
    )?;
    if let Some(floor) = floors.first() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let ceiling = cores as f64 * 1000.0 / floor.argon2_ms;
        writeln!(
            md,
            "\nArgon2id floor for password sign-ins: {cores} cores × 1 / {:.1} ms = **{ceiling:.0} sign-ins/s**. \
             The pieces: Argon2id {:.1} ms; the code window (three HMAC-SHA1) {:.1} µs.\n",
            floor.argon2_ms, floor.argon2_ms, floor.totp_window_us
        )?;
        for run in runs.iter().filter(|r| r.workload == Workload::SigninPassword && r.target == Target::Latchkey) {
            writeln!(
                md,
                "- {} ({}): {:.0} sign-ins/s = {:.0}% of the floor.",
                run.label,
                setting(run),
                run.requests_per_second,
                run.requests_per_second / ceiling * 100.0
            )?;
        }
        writeln!(md)?;
    }
    Ok(())
}

fn profiles(md: &mut String, dir: &PathBuf) -> anyhow::Result<()> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    if files.is_empty() {
        return Ok(());
    }
    writeln!(md, "## Where the rest goes: profiles\n")?;
    writeln!(
        md,
        "`perf record -g` of the server (Latchkey on SQLite) during each workload; the functions with the most \
         samples, children included.\n"
    )?;
    for file in files {
        let name = file.file_stem().and_then(|n| n.to_str()).unwrap_or("?");
        let text = std::fs::read_to_string(&file)?;
        writeln!(md, "<details><summary><code>{name}</code></summary>\n\n```\n{}\n```\n</details>\n", text.trim())?;
    }
    Ok(())
}

/// A log-x line chart of p50 and p99 per system.
fn plot(runs: &[Run]) -> String {
    let (width, height, left, right, top, bottom) = (720.0, 420.0, 70.0, 190.0, 30.0, 60.0);
    let xs: Vec<f64> = runs.iter().map(|r| (r.mfa_accounts.max(1) as f64).log10()).collect();
    let (x_min, x_max) = (xs.iter().copied().fold(f64::MAX, f64::min), xs.iter().copied().fold(f64::MIN, f64::max));
    let y_max = runs.iter().map(|r| r.p99_ms).fold(1.0, f64::max) * 1.15;
    let x = |v: f64| left + (v - x_min) / (x_max - x_min).max(1e-9) * (width - left - right);
    let y = |v: f64| top + (1.0 - v / y_max) * (height - top - bottom);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
    );
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#333\"/>",
        height - bottom,
        width - right,
        height - bottom,
        height - bottom
    );
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.1}</text><line x1=\"{left}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
            left - 6.0,
            y(v) + 4.0,
            y(v),
            width - right,
            y(v)
        );
    }
    let mut counts: Vec<usize> = runs.iter().map(|r| r.mfa_accounts).collect();
    counts.sort_unstable();
    counts.dedup();
    for n in counts {
        let label = if n >= 1_000_000 { format!("{}M", n / 1_000_000) } else { format!("{}k", n / 1000) };
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            x((n as f64).log10()),
            height - bottom + 18.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">accounts with MFA (log scale)</text>\
         <text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\">code step latency, ms</text>",
        (left + width - right) / 2.0,
        height - 16.0,
        (top + height - bottom) / 2.0,
        (top + height - bottom) / 2.0
    );
    let colours = ["#4338ca", "#059669", "#b45309", "#be123c"];
    let mut labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
    labels.dedup();
    let mut legend_y = top + 10.0;
    for (k, label) in labels.iter().enumerate() {
        let colour = colours[k % colours.len()];
        let series: Vec<&Run> = runs.iter().filter(|r| r.label == *label).collect();
        for (quantile, dash, pick) in [("p50", "", 0), ("p99", " stroke-dasharray=\"5 4\"", 1)] {
            let points: Vec<String> = series
                .iter()
                .map(|r| {
                    let v = if pick == 0 { r.p50_ms } else { r.p99_ms };
                    format!("{:.1},{:.1}", x((r.mfa_accounts as f64).log10()), y(v))
                })
                .collect();
            let _ = writeln!(
                svg,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
                points.join(" ")
            );
            let _ = writeln!(
                svg,
                "<line x1=\"{:.1}\" y1=\"{legend_y:.1}\" x2=\"{:.1}\" y2=\"{legend_y:.1}\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{label} {quantile}</text>",
                width - right + 12.0,
                width - right + 36.0,
                width - right + 42.0,
                legend_y + 4.0
            );
            legend_y += 18.0;
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plot_is_an_svg_with_a_line_per_series_and_quantile() {
        let run = |label: &str, n: usize, p50: f64| Run {
            label: label.into(),
            target: Target::Latchkey,
            workload: Workload::SigninMfa,
            mfa_accounts: n,
            connections: 8,
            rate: Some(100.0),
            seconds: 10.0,
            requests: 1000,
            errors: 0,
            requests_per_second: 100.0,
            p50_ms: p50,
            p99_ms: p50 * 3.0,
            p999_ms: p50 * 4.0,
            max_ms: p50 * 5.0,
            peak_rss_mib: None,
            cpu_ms_per_request: None,
            statuses: std::collections::BTreeMap::new(),
        };
        let runs = vec![run("A", 1000, 1.0), run("A", 100_000, 1.5), run("B", 1000, 2.0), run("B", 100_000, 2.5)];
        let svg = plot(&runs);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(svg.contains(">100k<") && svg.contains(">1k<"));
    }
}
