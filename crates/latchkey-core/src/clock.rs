//! The source of "now": injected everywhere so that tests can control time.

use std::sync::Arc;
use time::OffsetDateTime;

/// Tells the current time. Production uses [`SystemClock`]; tests move a clock of their own.
pub trait Clock: Send + Sync + 'static {
    /// The current instant, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's wall clock, to the whole second: the precision the
/// stores keep, so a value reads back exactly as it was written.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(0).unwrap_or(now)
    }
}

/// A shared clock handle, as the services hold it.
pub type SharedClock = Arc<dyn Clock>;
