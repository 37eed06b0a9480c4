//! The benchmark tools end to end, small and fast: a fixture, every workload
//! against a real server for a second, the floors and the report. `bench/run`
//! does the same at full size (and with Parse Server) but is too long for CI;
//! this keeps its tools from rotting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use latchkey::config::Config;
use latchkey::startup::Application;

fn bench(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_latchkey-bench")).args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

fn lines_requests(line: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(line).unwrap()["requests"].as_u64().unwrap()
}

fn lines(file: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_load_floors_and_report_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pending = dir.path().join("pending.txt");
    let (data_s, pending_s) = (data.to_str().unwrap(), pending.to_str().unwrap());
    bench(&[
        "fixture",
        "--data-dir",
        data_s,
        "--mfa-accounts",
        "2000",
        "--plain-accounts",
        "4",
        "--pending",
        "2000",
        "--pending-out",
        pending_s,
    ]);

    // The server runs in this process on the fixture's store; its CPU and memory are ours.
    let config = Config { data_dir: data.clone(), listen: "127.0.0.1:0".parse().unwrap(), ..Config::default() };
    let app = Application::build(config, Arc::new(latchkey_core::SystemClock)).await.unwrap();
    let url = format!("http://{}", app.address());
    tokio::spawn(app.run_until_stopped());

    let results = dir.path().join("results.jsonl");
    let pid = std::process::id().to_string();
    for workload in ["me", "signin-mfa", "signin-password", "mixed"] {
        // The mixed run's code steps take the pending sign-ins the code-step run left.
        let skip = std::fs::read_to_string(&results)
            .map(|text| text.lines().filter(|l| l.contains("signin-mfa")).map(lines_requests).sum::<u64>())
            .unwrap_or(0)
            .to_string();
        let args = [
            "load",
            "--target",
            "latchkey",
            "--url",
            &url,
            "--workload",
            workload,
            "--connections",
            "4",
            "--seconds",
            "1",
            "--pid",
            &pid,
            "--plain-accounts",
            "4",
            "--mfa-accounts",
            "2000",
            "--pending",
            pending_s,
            "--pending-skip",
            &skip,
            "--label",
            "Latchkey SQLite",
            "--out",
            results.to_str().unwrap(),
        ];
        let (tx, rx) = tokio::sync::oneshot::channel();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        std::thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            bench(&args);
            tx.send(()).unwrap();
        });
        rx.await.unwrap();
    }
    let runs = lines(&results);
    assert_eq!(runs.len(), 4);
    for run in &runs {
        assert_eq!(run["errors"], 0, "{run}");
        assert!(run["requests"].as_u64().unwrap() > 0, "{run}");
        assert!(run["peak_rss_mib"].as_f64().unwrap() > 1.0, "{run}");
    }
    let mfa = &runs[1];
    assert!(mfa["statuses"]["201"].as_u64().unwrap() > 0, "each code step a real success: {mfa}");

    // Fairness: a flood from two addresses while a trickle from two others signs in.
    let fairness = dir.path().join("fairness.jsonl");
    let (to, out) = (url.clone(), fairness.to_str().unwrap().to_string());
    let run_load = move |label: &str, workload: &str, connections: &str, first: &str, rate: Option<&str>| {
        let mut args: Vec<String> = [
            "load",
            "--target",
            "latchkey",
            "--url",
            &to,
            "--workload",
            workload,
            "--connections",
            connections,
            "--seconds",
            "1",
            "--plain-accounts",
            "4",
            "--source-addresses",
            "2",
            "--source-first",
            first,
            "--label",
            label,
            "--out",
            &out,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(rate) = rate {
            args.extend(["--rate".to_string(), rate.to_string()]);
        }
        std::thread::spawn(move || bench(&args.iter().map(String::as_str).collect::<Vec<_>>()))
    };
    tokio::task::spawn_blocking(move || {
        run_load("trickle alone", "signin-password", "2", "127.0.1.1", Some("4")).join().unwrap();
        let flood = run_load("flood", "flood", "8", "127.0.2.1", None);
        run_load("trickle under the flood", "signin-password", "2", "127.0.3.1", Some("4")).join().unwrap();
        flood.join().unwrap();
    })
    .await
    .unwrap();
    let fair = lines(&fairness);
    let flood = fair.iter().find(|r| r["workload"] == "flood").expect("the flood's run");
    assert!(flood["statuses"]["409"].as_u64().unwrap_or(0) > 0, "a taken name is refused: {flood}");
    let trickles: Vec<_> = fair.iter().filter(|r| r["workload"] == "signin-password").collect();
    assert!(trickles.iter().all(|r| r["errors"] == 0 && r["requests"].as_u64() > Some(0)), "{trickles:?}");

    let floors = dir.path().join("floors.jsonl");
    bench(&["floors", "--data-dir", data_s, "--label", "SQLite", "--out", floors.to_str().unwrap()]);
    let floor = &lines(&floors)[0];
    assert!(floor["argon2_ms"].as_f64().unwrap() > 1.0, "{floor}");

    let about = dir.path().join("about.md");
    std::fs::write(&about, "## The run\n\n- a test\n").unwrap();
    let (report, plot) = (dir.path().join("BENCHMARKS.md"), dir.path().join("plot.svg"));
    bench(&[
        "report",
        "--results",
        results.to_str().unwrap(),
        "--floors",
        floors.to_str().unwrap(),
        "--scaling",
        results.to_str().unwrap(),
        "--about",
        about.to_str().unwrap(),
        "--fairness",
        fairness.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let markdown = std::fs::read_to_string(&report).unwrap();
    assert!(markdown.contains("## `me`") && markdown.contains("## The cost model"), "{markdown}");
    assert!(markdown.contains("| Latchkey SQLite | 4 conns, closed loop |"), "{markdown}");
    assert!(markdown.contains("## Fairness") && markdown.contains("| flood | 8 conns, closed loop |"), "{markdown}");
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));
}
