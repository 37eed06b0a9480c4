//! `/metrics` in Prometheus text: request latency by route and status,
//! security events by kind (sign-ins, failures, lockouts, MFA changes…), the
//! store's connections, and the process's own (memory, CPU, file
//! descriptors, start time, version). Counts are per process, as Prometheus
//! expects.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Upper bounds of the latency buckets, in seconds (Argon2 sits near 0.05).
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request latencies, keyed by (route, status), and when this process began.
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), Histogram>>,
    started: f64,
}

impl Default for Metrics {
    fn default() -> Self {
        let started =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |since| since.as_secs_f64());
        Metrics { requests: Mutex::default(), started }
    }
}

impl Metrics {
    fn observe(&self, route: String, status: u16, seconds: f64) {
        let Ok(mut requests) = self.requests.lock() else { return };
        let histogram = requests.entry((route, status)).or_default();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }
}

/// Middleware: times every request, labelled by its route pattern (never
/// the raw path, which would carry ids and grow without bound).
pub async fn measure(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.observe(route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`.
pub async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP latchkey_http_request_duration_seconds Time to answer, by route and status.");
    let _ = writeln!(out, "# TYPE latchkey_http_request_duration_seconds histogram");
    if let Ok(requests) = state.metrics.requests.lock() {
        for ((route, status), h) in requests.iter() {
            let labels = format!("route=\"{route}\",status=\"{status}\"");
            for (count, bound) in h.buckets.iter().zip(BUCKETS) {
                let _ =
                    writeln!(out, "latchkey_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(out, "latchkey_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "latchkey_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "latchkey_http_request_duration_seconds_count{{{labels}}} {}", h.count);
        }
    }
    let _ = writeln!(out, "# HELP latchkey_security_events_total Security events recorded by this process, by kind.");
    let _ = writeln!(out, "# TYPE latchkey_security_events_total counter");
    for (kind, count) in state.services.events.counts() {
        let _ = writeln!(out, "latchkey_security_events_total{{kind=\"{kind}\"}} {count}");
    }
    if let Some((open, idle)) = state.services.store_connections() {
        let _ = writeln!(out, "# HELP latchkey_store_connections Database connections of this process.");
        let _ = writeln!(out, "# TYPE latchkey_store_connections gauge");
        let _ = writeln!(out, "latchkey_store_connections{{state=\"idle\"}} {idle}");
        let _ =
            writeln!(out, "latchkey_store_connections{{state=\"in_use\"}} {}", (open as usize).saturating_sub(idle));
    }
    super::process_metrics::write(&mut out, state.metrics.started);
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}
