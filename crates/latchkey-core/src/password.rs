//! Argon2id password hashing, off the async runtime, bounded and fair.
//!
//! Each hash takes 19 MiB and tens of milliseconds of one core, so hashes run
//! on a few threads of their own: a burst of sign-ins queues instead of
//! exhausting memory, and a queue that does not move answers "busy". Own
//! threads rather than Tokio's blocking pool: the allocator keeps a 19 MiB
//! block per thread that ever hashed, so the number of such threads, not
//! just of hashes at once, bounds the memory.
//!
//! Hashing is where a flood costs the service most, so it is shared fairly
//! (docs/SECURITY.md, rows DOS-01 and DOS-02): a caller is first *admitted*
//! for its client (at most [`PER_CLIENT_ADMITTED`] at once per address, the
//! rest wait), the fair queue ([`fair_queue`]) then serves the clients in
//! turn, and sign-ups together hold at most half the threads.

mod fair_queue;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::cell::RefCell;

use argon2::password_hash::{rand_core::OsRng, Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::domain::{NewPassword, Password};
use crate::error::CoreError;
use fair_queue::{FairQueue, Job, Limits};

/// How long a request waits for its turn (admission, then a thread) before
/// giving up.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// Password checks (or new hashes) admitted at once for one client address:
/// the rest wait their turn, so a client's burst is checked against its
/// throttle a few at a time, never all at once before the first failure
/// counts.
pub const PER_CLIENT_ADMITTED: usize = 4;

/// Jobs one client may have waiting for a thread, and all clients together.
const LIMITS: Limits = Limits { per_lane: 8, capacity: 256 };

/// Argon2id at m = 19456 KiB, t = 2, p = 1: OWASP's minimum.
fn argon2() -> Result<Argon2<'static>, CoreError> {
    let params = Params::new(19_456, 2, 1, None).map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Recovery codes carry 80 random bits, so they need no memory-hard hashing
/// against guessing; a light Argon2id (4 MiB, t=2) still keeps a copied
/// database from handing them out, and ten of them verify in milliseconds.
fn argon2_light() -> Result<Argon2<'static>, CoreError> {
    let params = Params::new(4_096, 2, 1, None).map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes and verifies passwords and recovery codes; cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    queue: Arc<FairQueue>,
    admitted: Arc<Mutex<HashMap<Arc<str>, Arc<Semaphore>>>>,
    /// Sign-ups hold at most half the threads, whatever their addresses.
    sign_ups: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does not
    /// exist so that "no such user" costs the same time as "wrong password".
    dummy_hash: Arc<str>,
}

/// A caller's turn to hash for one client, from [`PasswordHasher::admit`];
/// the next caller for that client is admitted when it is dropped.
pub struct Admission {
    hasher: PasswordHasher,
    client: Arc<str>,
    deadline: Instant,
    permit: Option<OwnedSemaphorePermit>,
    sign_up_ceiling: Option<OwnedSemaphorePermit>,
}

impl PasswordHasher {
    /// Builds a hasher running `max_concurrent` hashes at once (at least one).
    /// Computes the dummy hash, so call it once at start-up.
    pub fn new(max_concurrent: usize) -> Result<Self, CoreError> {
        let random = SaltString::generate(&mut OsRng);
        let dummy_hash = hash_blocking(random.as_str())?;
        let threads = max_concurrent.max(1);
        Ok(PasswordHasher {
            queue: Arc::new(FairQueue::start(threads, LIMITS)?),
            admitted: Arc::default(),
            sign_ups: Arc::new(Semaphore::new((threads / 2).max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Waits for a turn to check or hash a password for `client` (an
    /// address, or a name for work without one): at most
    /// [`PER_CLIENT_ADMITTED`] callers per client hold one at once. Waiting
    /// longer than the queue's timeout is [`CoreError::Busy`].
    pub async fn admit(&self, client: &str) -> Result<Admission, CoreError> {
        self.admitted(client, false).await
    }

    /// As [`PasswordHasher::admit`], for a new account's hash: sign-ups also
    /// share one ceiling, so that a flood of them from many addresses still
    /// leaves sign-ins half the threads.
    pub async fn admit_sign_up(&self, client: &str) -> Result<Admission, CoreError> {
        self.admitted(client, true).await
    }

    async fn admitted(&self, client: &str, sign_up: bool) -> Result<Admission, CoreError> {
        let deadline = Instant::now() + QUEUE_TIMEOUT;
        let (client, lane) = self.lane(client)?;
        // Made first, so that giving up forgets the lane too (its Drop).
        let mut admission = Admission { hasher: self.clone(), client, deadline, permit: None, sign_up_ceiling: None };
        admission.permit = Some(acquire(lane, deadline).await?);
        if sign_up {
            admission.sign_up_ceiling = Some(acquire(self.sign_ups.clone(), deadline).await?);
        }
        Ok(admission)
    }

    /// The client's admission lane, made on first use.
    fn lane(&self, client: &str) -> Result<(Arc<str>, Arc<Semaphore>), CoreError> {
        let mut lanes = self.admitted.lock().map_err(|_| poisoned())?;
        if let Some((key, lane)) = lanes.get_key_value(client) {
            return Ok((key.clone(), lane.clone()));
        }
        let key: Arc<str> = client.into();
        let lane = Arc::new(Semaphore::new(PER_CLIENT_ADMITTED));
        lanes.insert(key.clone(), lane.clone());
        Ok((key, lane))
    }

    /// Hashes a set of recovery codes (normalised) in one job for `client`.
    pub async fn hash_codes(&self, codes: Vec<String>, client: &str) -> Result<Vec<String>, CoreError> {
        let deadline = Instant::now() + QUEUE_TIMEOUT;
        self.run(&client.into(), deadline, move || {
            let argon2 = argon2_light()?;
            codes.iter().map(|code| hash_with(&argon2, code)).collect()
        })
        .await?
    }

    /// Which of `candidates` (id, hash) `code` is. Every candidate is checked,
    /// whatever matched first, so the time taken says nothing about which.
    pub async fn find_code(
        &self,
        code: String,
        candidates: Vec<(i64, String)>,
        client: &str,
    ) -> Result<Option<i64>, CoreError> {
        let deadline = Instant::now() + QUEUE_TIMEOUT;
        self.run(&client.into(), deadline, move || {
            let mut found = None;
            for (id, phc) in &candidates {
                let matches = verify_with(&code, phc).unwrap_or(false);
                if matches && found.is_none() {
                    found = Some(*id);
                }
            }
            found
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        client: &Arc<str>,
        deadline: Instant,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |in_time| {
            let _ = done.send(if in_time { Ok(work()) } else { Err(CoreError::Busy) });
        });
        self.queue.submit(client, job, deadline)?;
        result.await.map_err(|_| CoreError::Internal("a password hash job failed".into()))?
    }
}

impl Admission {
    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for a new password.
    pub async fn hash(&self, password: &NewPassword) -> Result<String, CoreError> {
        let secret = SecretString::from(password.expose());
        self.hasher.run(&self.client, self.deadline, move || hash_blocking(secret.expose_secret())).await?
    }

    /// Whether `password` matches `stored`; with no stored hash, spends the same
    /// time on the dummy hash and answers false.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<bool, CoreError> {
        let (phc, real) = match stored {
            Some(phc) => (phc.to_owned(), true),
            None => (self.hasher.dummy_hash.to_string(), false),
        };
        let secret = SecretString::from(password.expose());
        let matches = self
            .hasher
            .run(&self.client, self.deadline, move || verify_blocking(secret.expose_secret(), &phc))
            .await??;
        Ok(real && matches)
    }
}

impl Drop for Admission {
    /// Lets the client's next caller in, and forgets a lane no one holds or
    /// waits for (each holder and waiter keeps a reference to it).
    fn drop(&mut self) {
        drop(self.sign_up_ceiling.take());
        drop(self.permit.take());
        if let Ok(mut lanes) = self.hasher.admitted.lock() {
            if lanes.get(&self.client).is_some_and(|lane| Arc::strong_count(lane) == 1) {
                lanes.remove(&self.client);
            }
        }
    }
}

/// A permit of `semaphore`, waiting until `deadline` at most.
async fn acquire(semaphore: Arc<Semaphore>, deadline: Instant) -> Result<OwnedSemaphorePermit, CoreError> {
    match tokio::time::timeout_at(deadline.into(), semaphore.acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) | Err(_) => Err(CoreError::Busy),
    }
}

fn poisoned() -> CoreError {
    CoreError::Internal("the hashing admissions are poisoned".into())
}

fn hash_blocking(password: &str) -> Result<String, CoreError> {
    hash_with(&argon2()?, password)
}

/// Verifies with the parameters recorded in the PHC string, so stronger
/// parameters chosen later keep old hashes valid.
fn verify_blocking(password: &str, phc: &str) -> Result<bool, CoreError> {
    verify_with(password, phc)
}

thread_local! {
    /// Each hashing thread's Argon2 memory, allocated once and reused. Left to
    /// the allocator, a 19 MiB block per hash raises glibc's mmap threshold
    /// and then stays resident per arena: measured 460 MiB after 32 sign-ins.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's Argon2 memory, grown to `params` if need be.
fn with_blocks<T>(params: &Params, f: impl FnOnce(&mut [Block]) -> T) -> T {
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        let needed = params.block_count();
        if blocks.len() < needed {
            blocks.resize(needed, Block::default());
        }
        f(&mut blocks[..needed])
    })
}

/// The raw Argon2 output for `secret` and `salt` under `argon2`'s parameters.
fn output(argon2: &Argon2<'_>, secret: &[u8], salt: &[u8], len: usize) -> Result<Vec<u8>, CoreError> {
    let mut out = vec![0u8; len];
    with_blocks(argon2.params(), |blocks| argon2.hash_password_into_with_memory(secret, salt, &mut out, blocks))
        .map_err(|e| CoreError::Internal(format!("argon2 hash failed: {e}")))?;
    Ok(out)
}

/// A PHC string for `secret` with a fresh salt.
fn hash_with(argon2: &Argon2<'_>, secret: &str) -> Result<String, CoreError> {
    let internal = |e: argon2::password_hash::Error| CoreError::Internal(format!("argon2 hash failed: {e}"));
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes).map_err(internal)?;
    let raw = output(argon2, secret.as_bytes(), salt_bytes, argon2::Params::DEFAULT_OUTPUT_LEN)?;
    let phc = PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: argon2.params().try_into().map_err(internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&raw).map_err(internal)?),
    };
    Ok(phc.to_string())
}

/// Whether `secret` matches the PHC string `phc`, under the parameters it
/// records, compared in constant time (`Output`'s equality).
fn verify_with(secret: &str, phc: &str) -> Result<bool, CoreError> {
    let unreadable = |e: argon2::password_hash::Error| CoreError::Internal(format!("stored hash unreadable: {e}"));
    let parsed = PasswordHash::new(phc).map_err(unreadable)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(CoreError::Internal("stored hash has no salt or output".into()));
    };
    let algorithm = argon2::Algorithm::try_from(parsed.algorithm).map_err(unreadable)?;
    let version = parsed
        .version
        .map(argon2::Version::try_from)
        .transpose()
        .map_err(|e| CoreError::Internal(format!("stored hash unreadable: {e}")))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(unreadable)?;
    let stored = Argon2::new(algorithm, version, params);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(unreadable)?;
    let computed = output(&stored, secret.as_bytes(), salt_bytes, expected.len())?;
    Ok(Output::new(&computed).map_err(unreadable)? == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PasswordPolicy;

    #[tokio::test]
    async fn a_hash_verifies_its_own_password_only() -> Result<(), CoreError> {
        let hasher = PasswordHasher::new(2)?.admit("test").await?;
        let new = NewPassword::parse("quiet otter mends the lamp", None, PasswordPolicy::default())
            .map_err(CoreError::Internal)?;
        let phc = hasher.hash(&new).await?;
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher.verify(&Password::new("quiet otter mends the lamp"), Some(&phc)).await?);
        assert!(!hasher.verify(&Password::new("quiet otter mends the lamP"), Some(&phc)).await?);
        assert!(!hasher.verify(&Password::new("quiet otter mends the lamp"), None).await?);
        let again = hasher.hash(&new).await?;
        assert_ne!(phc, again, "each hash has its own salt");
        Ok(())
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_phc_code_both_ways() -> Result<(), CoreError> {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let ours = hash_blocking("quiet otter mends the lamp")?;
        let parsed = PasswordHash::new(&ours).map_err(|e| CoreError::Internal(e.to_string()))?;
        assert!(argon2()?.verify_password(b"quiet otter mends the lamp", &parsed).is_ok(), "{ours}");
        let salt = SaltString::generate(&mut OsRng);
        let theirs =
            argon2()?.hash_password(b"stored before", &salt).map_err(|e| CoreError::Internal(e.to_string()))?;
        assert!(verify_blocking("stored before", &theirs.to_string())?, "hashes stored earlier still verify");
        assert!(!verify_blocking("stored befor", &theirs.to_string())?);
        let light = hash_with(&argon2_light()?, "abcd-efgh")?;
        assert!(light.starts_with("$argon2id$v=19$m=4096,t=2,p=1$") && verify_with("abcd-efgh", &light)?);
        Ok(())
    }
}
