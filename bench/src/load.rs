//! `load`: a fixed number of keep-alive HTTP/1.1 connections send one
//! workload for a fixed time, closed-loop (as fast as answers come) or at a
//! fixed rate (open-loop, latency counted from when each request was due, so
//! a stall is not hidden). Latencies go into an HDR histogram; the server's
//! peak RSS and CPU time come from `/proc`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::accounts;
use crate::process::ProcessStats;
use crate::records::{self, Run};

/// Which system is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Latchkey's JSON API.
    Latchkey,
    /// Parse Server's REST API with its TOTP MFA adapter.
    Parse,
}

/// What the connections send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// The authenticated hot path: who am I, by bearer token.
    Me,
    /// Password sign-ins of accounts without MFA.
    SigninPassword,
    /// Sign-ins' code steps, each with a fresh right code.
    SigninMfa,
    /// 90% `me`, 8% code steps, 2% password sign-ins.
    Mixed,
    /// Forward authentication as a reverse proxy asks it, for every request
    /// of a protected application: `GET /auth/forward` with the
    /// `X-Forwarded-*` headers and a signed-in browser's session cookie
    /// (Latchkey only; the server needs `trusted_proxies` and rules that let
    /// `FORWARD_HOST` through).
    Forward,
    /// An attacker's flood: in turn a sign-up with a new name, a sign-up
    /// with a taken one, and a wrong password for a name nobody has (each
    /// costs a hash until the throttles stop it). Failures are its point,
    /// so the report counts its answers by status rather than as errors.
    Flood,
}

impl Workload {
    /// Its name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Me => "me",
            Workload::SigninPassword => "signin-password",
            Workload::SigninMfa => "signin-mfa",
            Workload::Mixed => "mixed",
            Workload::Forward => "forward",
            Workload::Flood => "flood",
        }
    }
}

/// One request's kind.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Me,
    Forward,
    Password,
    Mfa,
    NewSignUp,
    TakenSignUp,
    WrongPassword,
}

/// The run's settings.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The system behind `--url`.
    #[arg(long, value_enum)]
    target: Target,
    /// Its base URL, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    url: String,
    /// What to send.
    #[arg(long, value_enum)]
    workload: Workload,
    /// Open connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// How long to send.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Requests per second across all connections (open loop); unset: as fast as answered.
    #[arg(long)]
    rate: Option<f64>,
    /// The server's process id, for its peak RSS and CPU time.
    #[arg(long)]
    pid: Option<u32>,
    /// Accounts without MFA that exist (`bench{i}`).
    #[arg(long, default_value_t = 200)]
    plain_accounts: usize,
    /// Accounts with MFA that exist (`benchmfa{i}`).
    #[arg(long, default_value_t = 1000)]
    mfa_accounts: usize,
    /// Latchkey: the pending sign-ins minted by `fixture` (`INDEX TOKEN` lines).
    #[arg(long)]
    pending: Option<PathBuf>,
    /// Latchkey: skip this many pending sign-ins (an earlier run used them).
    #[arg(long, default_value_t = 0)]
    pending_skip: usize,
    /// Send from this many local addresses, connection `c` from the
    /// `c % N`-th after `--source-first` (all of 127.0.0.0/8 is this
    /// machine's), so the server sees that many clients; unset: one.
    #[arg(long)]
    source_addresses: Option<u8>,
    /// The first of the `--source-addresses`.
    #[arg(long, default_value = "127.0.1.1")]
    source_first: std::net::Ipv4Addr,
    /// The column this run fills in the report ("Latchkey SQLite").
    #[arg(long)]
    label: String,
    /// Where the result is appended, one JSON object per line.
    #[arg(long)]
    out: PathBuf,
}

/// Everything the connections share.
struct Plan {
    target: Target,
    host: String,
    workload: Workload,
    tokens: Vec<String>,
    plain_accounts: usize,
    mfa_accounts: usize,
    /// Latchkey's pending sign-ins, taken once each.
    pending: Vec<(usize, String)>,
    next_pending: AtomicUsize,
    next_plain: AtomicUsize,
    next_mfa: AtomicUsize,
    sent: AtomicUsize,
    /// The local addresses the connections send from (empty: the system's choice).
    sources: Vec<std::net::Ipv4Addr>,
}

/// Runs the workload and appends its outcome to `--out`.
pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let host = args.url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let pending = match &args.pending {
        Some(file) => read_pending(file, args.pending_skip)?,
        None => Vec::new(),
    };
    let mut plan = Plan {
        target: args.target,
        host,
        workload: args.workload,
        tokens: Vec::new(),
        plain_accounts: args.plain_accounts.max(1),
        mfa_accounts: args.mfa_accounts.max(1),
        pending,
        next_pending: AtomicUsize::new(0),
        next_plain: AtomicUsize::new(0),
        next_mfa: AtomicUsize::new(0),
        sent: AtomicUsize::new(0),
        sources: sources(args.source_first, args.source_addresses.unwrap_or(0)),
    };
    if matches!(args.workload, Workload::Me | Workload::Mixed | Workload::Forward) {
        plan.tokens = sign_in_for_tokens(&plan, args.connections.min(args.plain_accounts)).await?;
    }
    let plan = Arc::new(plan);
    let before = args.pid.map(ProcessStats::start);
    let started = Instant::now();
    let end = started + Duration::from_secs(args.seconds);
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, u64>::new()));
    let mut connections = tokio::task::JoinSet::new();
    for c in 0..args.connections {
        let (plan, statuses) = (plan.clone(), statuses.clone());
        // Open loop: connection c sends every `connections / rate` seconds, staggered.
        let schedule = args.rate.map(|rate| {
            let interval = Duration::from_secs_f64(args.connections as f64 / rate);
            (started + Duration::from_secs_f64(c as f64 / rate), interval)
        });
        connections.spawn(async move { connection(plan, c, end, schedule, statuses).await });
    }
    let mut latencies = new_histogram()?;
    let mut errors = 0;
    while let Some(done) = connections.join_next().await {
        let (histogram, failed) = done??;
        latencies.add(histogram).context("merging histograms")?;
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests = latencies.len();
    let stats = before.map(|b| b.finish(requests));
    let ms = |q: f64| latencies.value_at_quantile(q) as f64 / 1000.0;
    let outcome = Run {
        label: args.label,
        target: args.target,
        workload: args.workload,
        mfa_accounts: args.mfa_accounts,
        connections: args.connections,
        rate: args.rate,
        seconds: elapsed,
        requests,
        errors,
        requests_per_second: (requests - errors) as f64 / elapsed,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: latencies.max() as f64 / 1000.0,
        peak_rss_mib: stats.as_ref().and_then(|s| s.peak_rss_mib),
        cpu_ms_per_request: stats.as_ref().and_then(|s| s.cpu_ms_per_request),
        statuses: statuses.lock().map(|s| s.clone()).unwrap_or_default(),
    };
    records::append(&args.out, &outcome)
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    // Microseconds, from 1 µs to 2 minutes, 3 significant digits.
    Histogram::new_with_bounds(1, 120_000_000, 3).context("a histogram")
}

fn read_pending(file: &PathBuf, skip: usize) -> anyhow::Result<Vec<(usize, String)>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    text.lines()
        .skip(skip)
        .map(|line| {
            let (i, token) = line.split_once(' ').context("a pending line is `INDEX TOKEN`")?;
            Ok((i.parse()?, token.to_string()))
        })
        .collect()
}

/// `count` addresses from `first` on, counting up in the last octet.
fn sources(first: std::net::Ipv4Addr, count: u8) -> Vec<std::net::Ipv4Addr> {
    let first = u32::from(first);
    (0..u32::from(count)).map(|i| std::net::Ipv4Addr::from(first.wrapping_add(i))).collect()
}

/// One keep-alive connection's loop; returns its latencies and errors.
async fn connection(
    plan: Arc<Plan>,
    index: usize,
    end: Instant,
    schedule: Option<(Instant, Duration)>,
    statuses: Arc<Mutex<BTreeMap<u16, u64>>>,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    let mut latencies = new_histogram()?;
    let mut errors = 0;
    let source = (!plan.sources.is_empty()).then(|| plan.sources[index % plan.sources.len()]);
    let mut sender = connect(&plan.host, source).await?;
    let mut due = schedule.map(|(first, _)| first);
    loop {
        let began = match due {
            Some(at) => {
                if at >= end {
                    break;
                }
                tokio::time::sleep_until(at.into()).await;
                at
            }
            None => Instant::now(),
        };
        if began >= end {
            break;
        }
        let Some(request) = next_request(&plan)? else { break };
        let status = match send(&mut sender, request).await {
            Ok(status) => status.as_u16(),
            Err(e) => {
                eprintln!("transport error: {e}; reconnecting");
                sender = connect(&plan.host, source).await?;
                0
            }
        };
        latencies.record(u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX).max(1))?;
        if !(200..300).contains(&status) {
            errors += 1;
        }
        if let Ok(mut counts) = statuses.lock() {
            *counts.entry(status).or_default() += 1;
        }
        if let (Some(at), Some((_, interval))) = (due.as_mut(), schedule) {
            *at += interval;
        }
    }
    Ok((latencies, errors))
}

/// A keep-alive connection to `address` (`IP:PORT`), from `source` when given.
async fn connect(address: &str, source: Option<std::net::Ipv4Addr>) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = match source {
        None => tokio::net::TcpStream::connect(address).await,
        Some(ip) => {
            let to: std::net::SocketAddr =
                address.parse().context("--url must be http://IP:PORT with --source-addresses")?;
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind((ip, 0).into()).with_context(|| format!("sending from {ip}"))?;
            socket.connect(to).await
        }
    }
    .with_context(|| format!("connecting to {address}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends a request and reads the whole answer; the status.
async fn send(sender: &mut SendRequest<Full<Bytes>>, request: Request<Full<Bytes>>) -> anyhow::Result<StatusCode> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

/// The kind of the n-th request of the run.
fn kind_of(workload: Workload, n: usize) -> Kind {
    match workload {
        Workload::Me => Kind::Me,
        Workload::Forward => Kind::Forward,
        Workload::SigninPassword => Kind::Password,
        Workload::SigninMfa => Kind::Mfa,
        Workload::Mixed => match n % 100 {
            0..90 => Kind::Me,
            90..98 => Kind::Mfa,
            _ => Kind::Password,
        },
        Workload::Flood => match n % 3 {
            0 => Kind::NewSignUp,
            1 => Kind::TakenSignUp,
            _ => Kind::WrongPassword,
        },
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The next request, or `None` when the pending sign-ins ran out (the mixed
/// workload then sends `me` in their place).
fn next_request(plan: &Plan) -> anyhow::Result<Option<Request<Full<Bytes>>>> {
    let n = plan.sent.fetch_add(1, Ordering::Relaxed);
    let mut kind = kind_of(plan.workload, n);
    if matches!(kind, Kind::Mfa)
        && plan.target == Target::Latchkey
        && plan.workload == Workload::Mixed
        && plan.next_pending.load(Ordering::Relaxed) >= plan.pending.len()
    {
        kind = Kind::Me;
    }
    let (method, path, body, token) = match (kind, plan.target) {
        (Kind::Me, Target::Latchkey) => (Method::GET, "/api/v1/me", None, Some(&plan.tokens[n % plan.tokens.len()])),
        (Kind::Me, Target::Parse) => (Method::GET, "/parse/users/me", None, Some(&plan.tokens[n % plan.tokens.len()])),
        (Kind::Forward, Target::Latchkey) => return Ok(Some(forward(plan, &plan.tokens[n % plan.tokens.len()])?)),
        (Kind::Forward, Target::Parse) => anyhow::bail!("Parse Server has no forward authentication"),
        (Kind::Password, target) => {
            let i = plan.next_plain.fetch_add(1, Ordering::Relaxed) % plan.plain_accounts;
            let (login, password) = (accounts::plain_username(i), accounts::password(i));
            match target {
                Target::Latchkey => {
                    (Method::POST, "/api/v1/sessions", Some(json!({"login": login, "password": password})), None)
                }
                Target::Parse => {
                    (Method::POST, "/parse/login", Some(json!({"username": login, "password": password})), None)
                }
            }
        }
        (Kind::Mfa, Target::Latchkey) => {
            let taken = plan.next_pending.fetch_add(1, Ordering::Relaxed);
            let Some((i, mfa_token)) = plan.pending.get(taken) else { return Ok(None) };
            let code = accounts::code_at(&accounts::mfa_secret(*i), unix_now())?;
            (Method::POST, "/api/v1/sessions/mfa", Some(json!({"mfa_token": mfa_token, "code": code})), None)
        }
        (Kind::NewSignUp | Kind::TakenSignUp | Kind::WrongPassword, Target::Parse) => {
            anyhow::bail!("the flood workload is for Latchkey only")
        }
        (Kind::NewSignUp | Kind::TakenSignUp, Target::Latchkey) => {
            // A name of this run alone (the process id), or one the fixture made.
            let name = match kind {
                Kind::NewSignUp => format!("flood{}n{n}", std::process::id()),
                _ => accounts::plain_username(0),
            };
            let body = json!({
                "username": name,
                "email": format!("flood{}n{n}@example.com", std::process::id()),
                "password": format!("a flooding password {n}"),
            });
            (Method::POST, "/api/v1/users", Some(body), None)
        }
        (Kind::WrongPassword, Target::Latchkey) => {
            let body = json!({"login": format!("nobody{}", n % 1000), "password": format!("a wrong password {n}")});
            (Method::POST, "/api/v1/sessions", Some(body), None)
        }
        (Kind::Mfa, Target::Parse) => {
            let i = plan.next_mfa.fetch_add(1, Ordering::Relaxed) % plan.mfa_accounts;
            let code = accounts::code_at(&accounts::mfa_secret(i), unix_now())?;
            let body = json!({
                "username": accounts::mfa_username(i),
                "password": accounts::password(i),
                "authData": {"mfa": {"token": code}},
            });
            (Method::POST, "/parse/login", Some(body), None)
        }
    };
    Ok(Some(build(plan, method, path, body.as_ref(), token.map(String::as_str))?))
}

fn build(
    plan: &Plan,
    method: Method,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut request = Request::builder().method(method).uri(path).header(hyper::header::HOST, &plan.host);
    if plan.target == Target::Parse {
        request = request.header("x-parse-application-id", "bench");
    }
    if let Some(token) = token {
        request = match plan.target {
            Target::Latchkey => request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}")),
            Target::Parse => request.header("x-parse-session-token", token),
        };
    }
    let bytes = match body {
        Some(body) => {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
            Bytes::from(serde_json::to_vec(body)?)
        }
        None => Bytes::new(),
    };
    Ok(request.body(Full::new(bytes))?)
}

/// The host of the protected application the `forward` workload asks about.
pub const FORWARD_HOST: &str = "app.bench.test";

/// What a reverse proxy sends for one request of a signed-in browser.
fn forward(plan: &Plan, session: &str) -> anyhow::Result<Request<Full<Bytes>>> {
    Ok(Request::builder()
        .method(Method::GET)
        .uri("/auth/forward")
        .header(hyper::header::HOST, &plan.host)
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", FORWARD_HOST)
        .header("x-forwarded-uri", "/wiki/Main_Page?action=view")
        .header("x-forwarded-for", "192.0.2.10")
        .header(hyper::header::ACCEPT, "text/html")
        .header(hyper::header::COOKIE, format!("latchkey_session={session}"))
        .body(Full::new(Bytes::new()))?)
}

/// Signs `count` accounts without MFA in (before the clock starts); their tokens.
async fn sign_in_for_tokens(plan: &Plan, count: usize) -> anyhow::Result<Vec<String>> {
    let mut sender = connect(&plan.host, None).await?;
    let mut tokens = Vec::with_capacity(count);
    for i in 0..count.max(1) {
        let (login, password) = (accounts::plain_username(i), accounts::password(i));
        let (path, body, field) = match plan.target {
            Target::Latchkey => ("/api/v1/sessions", json!({"login": login, "password": password}), "token"),
            Target::Parse => ("/parse/login", json!({"username": login, "password": password}), "sessionToken"),
        };
        let request = build(plan, Method::POST, path, Some(&body), None)?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(status.is_success(), "signing {login} in: {status} {}", String::from_utf8_lossy(&bytes));
        let answer: Value = serde_json::from_slice(&bytes)?;
        tokens.push(answer[field].as_str().context("a token in the answer")?.to_string());
    }
    Ok(tokens)
}
