//! The hashing threads' queue, fair between clients.
//!
//! Every job names who it is for (a client address). Jobs wait in one lane
//! per client, and a free thread takes the next job of the lane with the
//! fewest jobs running, then of the one served longest ago. So a client
//! that floods the queue holds at most one thread while anyone else waits:
//! a newcomer's job starts as soon as any thread is free, and its latency
//! stays within one hash of its unloaded latency (docs/SECURITY.md, row
//! DOS-01). Alone, a client still gets every thread (nothing is held back).
//! A lane and the whole queue are bounded: past either, a job is refused at
//! once rather than queued behind work it cannot overtake.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::error::CoreError;

/// Work for a hashing thread; told whether it started before its deadline
/// (a job whose caller has given up is not computed).
pub(crate) type Job = Box<dyn FnOnce(bool) + Send>;

/// The queue and its threads; the threads end when it is dropped.
pub(crate) struct FairQueue {
    shared: Arc<Shared>,
    limits: Limits,
}

/// How much a lane and the queue may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Jobs waiting in one lane at most.
    pub per_lane: usize,
    /// Jobs waiting in all lanes at most.
    pub capacity: usize,
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
}

/// The lanes; kept apart from the threads so the choice can be tested alone.
#[derive(Default)]
struct State {
    lanes: HashMap<Arc<str>, Lane>,
    queued: usize,
    /// Counts dispatches and arrivals: "served longest ago" and "came first".
    clock: u64,
    closed: bool,
}

#[derive(Default)]
struct Lane {
    jobs: VecDeque<Waiting>,
    running: usize,
    last_served: u64,
}

struct Waiting {
    job: Job,
    deadline: Instant,
    arrived: u64,
}

/// Why a job was not queued.
#[derive(Debug, PartialEq, Eq)]
enum Full {
    Lane,
    Queue,
}

impl State {
    fn push(&mut self, key: &Arc<str>, job: Job, deadline: Instant, limits: Limits) -> Result<(), (Full, Job)> {
        if self.queued >= limits.capacity {
            return Err((Full::Queue, job));
        }
        self.clock += 1;
        let arrived = self.clock;
        let lane = self.lanes.entry(key.clone()).or_default();
        if lane.jobs.len() >= limits.per_lane {
            return Err((Full::Lane, job));
        }
        lane.jobs.push_back(Waiting { job, deadline, arrived });
        self.queued += 1;
        Ok(())
    }

    /// The next job: of the lane with the fewest running, then served
    /// longest ago, then whose job came first.
    fn pop(&mut self) -> Option<(Arc<str>, Waiting)> {
        let key = self
            .lanes
            .iter()
            .filter_map(|(key, lane)| {
                lane.jobs.front().map(|first| ((lane.running, lane.last_served, first.arrived), key))
            })
            .min_by_key(|(rank, _)| *rank)
            .map(|(_, key)| key.clone())?;
        self.clock += 1;
        let served = self.clock;
        let lane = self.lanes.get_mut(&key)?;
        let waiting = lane.jobs.pop_front()?;
        lane.running += 1;
        lane.last_served = served;
        self.queued -= 1;
        Some((key, waiting))
    }

    /// A job of `key` ended; an idle, empty lane is forgotten.
    fn finished(&mut self, key: &Arc<str>) {
        if let Some(lane) = self.lanes.get_mut(key) {
            lane.running = lane.running.saturating_sub(1);
            if lane.running == 0 && lane.jobs.is_empty() {
                self.lanes.remove(key);
            }
        }
    }
}

impl FairQueue {
    /// Starts `threads` hashing threads (at least one).
    pub(crate) fn start(threads: usize, limits: Limits) -> Result<Self, CoreError> {
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), ready: Condvar::new() });
        for n in 0..threads.max(1) {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || shared.work())
                .map_err(|e| CoreError::Internal(format!("starting a hashing thread: {e}")))?;
        }
        Ok(FairQueue { shared, limits })
    }

    /// Queues `job` in `key`'s lane; a full lane or queue is
    /// [`CoreError::Busy`] at once.
    pub(crate) fn submit(&self, key: &Arc<str>, job: Job, deadline: Instant) -> Result<(), CoreError> {
        let mut state = self.shared.lock()?;
        match state.push(key, job, deadline, self.limits) {
            Ok(()) => {
                drop(state);
                self.shared.ready.notify_one();
                Ok(())
            }
            Err((full, _job)) => {
                tracing::warn!(client = %key, ?full, "the hashing queue refused a job");
                Err(CoreError::Busy)
            }
        }
    }
}

impl Drop for FairQueue {
    fn drop(&mut self) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.closed = true;
        }
        self.shared.ready.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> Result<MutexGuard<'_, State>, CoreError> {
        self.state.lock().map_err(|_| CoreError::Internal("the hashing queue is poisoned".into()))
    }

    /// A thread's life: take the fairest job, run it, repeat until closed.
    fn work(&self) {
        loop {
            let Ok(mut state) = self.state.lock() else { return };
            let (key, waiting) = loop {
                if let Some(next) = state.pop() {
                    break next;
                }
                if state.closed {
                    return;
                }
                state = match self.ready.wait(state) {
                    Ok(state) => state,
                    Err(_) => return,
                };
            };
            drop(state);
            let in_time = Instant::now() <= waiting.deadline;
            // A panicking job loses its answer (the caller sees an error), not the thread.
            let _ = catch_unwind(AssertUnwindSafe(move || (waiting.job)(in_time)));
            let Ok(mut state) = self.state.lock() else { return };
            state.finished(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { per_lane: 3, capacity: 5 };

    fn nothing() -> Job {
        Box::new(|_| {})
    }

    fn key(name: &str) -> Arc<str> {
        name.into()
    }

    fn push(state: &mut State, name: &str) -> Result<(), Full> {
        state.push(&key(name), nothing(), Instant::now(), LIMITS).map_err(|(full, _)| full)
    }

    fn next(state: &mut State) -> Option<String> {
        state.pop().map(|(key, _)| key.to_string())
    }

    #[test]
    fn a_newcomer_goes_before_the_queued_work_of_a_client_already_running() {
        let mut state = State::default();
        for _ in 0..3 {
            push(&mut state, "flood").unwrap();
        }
        assert_eq!(next(&mut state).as_deref(), Some("flood"));
        push(&mut state, "newcomer").unwrap();
        assert_eq!(next(&mut state).as_deref(), Some("newcomer"), "nothing of the newcomer's runs yet");
        assert_eq!(next(&mut state).as_deref(), Some("flood"));
    }

    #[test]
    fn clients_running_as_much_take_turns_the_one_served_longest_ago_first() {
        let mut state = State::default();
        for name in ["a", "a", "b", "b"] {
            push(&mut state, name).unwrap();
        }
        let first = next(&mut state).unwrap();
        state.finished(&key(&first));
        let second = next(&mut state).unwrap();
        assert_ne!(first, second, "the other client's turn");
        state.finished(&key(&second));
        assert_eq!(next(&mut state), Some(first));
    }

    #[test]
    fn a_client_alone_gets_every_thread() {
        let mut state = State::default();
        push(&mut state, "only").unwrap();
        push(&mut state, "only").unwrap();
        assert_eq!(next(&mut state).as_deref(), Some("only"));
        assert_eq!(next(&mut state).as_deref(), Some("only"), "a second thread is not held back");
        assert_eq!(next(&mut state), None);
    }

    #[test]
    fn a_full_lane_or_queue_refuses_and_an_idle_lane_is_forgotten() {
        let mut state = State::default();
        for _ in 0..3 {
            push(&mut state, "flood").unwrap();
        }
        assert_eq!(push(&mut state, "flood"), Err(Full::Lane));
        push(&mut state, "other").unwrap();
        push(&mut state, "third").unwrap();
        assert_eq!(push(&mut state, "fourth"), Err(Full::Queue));
        while let Some(name) = next(&mut state) {
            state.finished(&key(&name));
        }
        assert!(state.lanes.is_empty() && state.queued == 0);
    }
}
