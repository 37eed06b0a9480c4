//! The source of "now": injected everywhere so that tests can control time.

use std::sync::Arc;
use time::OffsetDateTime;

/// Tells the current time. Production uses [`SystemClock`]; tests move a clock of their own.
pub trait Clock: Send + Sync + 'static {
    /// The current instant, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A shared clock handle, as the services hold it.
pub type SharedClock = Arc<dyn Clock>;
