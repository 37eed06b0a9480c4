//! Argon2id password hashing, off the async runtime and bounded in concurrency.
//!
//! Each hash takes 19 MiB and tens of milliseconds of one core, so hashes run
//! on a few threads of their own behind a semaphore: a burst of sign-ins
//! queues instead of exhausting memory, and a queue that does not move
//! answers "busy". Own threads rather than Tokio's blocking pool: the
//! allocator keeps a 19 MiB block per thread that ever hashed, so the number
//! of such threads, not just of hashes at once, bounds the memory.

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use std::cell::RefCell;

use argon2::password_hash::{rand_core::OsRng, Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{oneshot, Semaphore};

use crate::domain::{NewPassword, Password};
use crate::error::CoreError;

/// How long a request waits for a free hashing slot before giving up.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

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
    permits: Arc<Semaphore>,
    workers: Arc<Mutex<mpsc::Sender<Job>>>,
    /// A hash of a random password, verified against when the account does not
    /// exist so that "no such user" costs the same time as "wrong password".
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// Builds a hasher allowing `max_concurrent` hashes at once (at least one).
    /// Computes the dummy hash, so call it once at start-up.
    pub fn new(max_concurrent: usize) -> Result<Self, CoreError> {
        let random = SaltString::generate(&mut OsRng);
        let dummy_hash = hash_blocking(random.as_str())?;
        let threads = max_concurrent.max(1);
        Ok(PasswordHasher {
            permits: Arc::new(Semaphore::new(threads)),
            workers: Arc::new(Mutex::new(spawn_workers(threads)?)),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for a new password.
    pub async fn hash(&self, password: &NewPassword) -> Result<String, CoreError> {
        let secret = SecretString::from(password.expose());
        self.run(move || hash_blocking(secret.expose_secret())).await?
    }

    /// Whether `password` matches `stored`; with no stored hash, spends the same
    /// time on the dummy hash and answers false.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<bool, CoreError> {
        let (phc, real) = match stored {
            Some(phc) => (phc.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let secret = SecretString::from(password.expose());
        let matches = self.run(move || verify_blocking(secret.expose_secret(), &phc)).await??;
        Ok(real && matches)
    }

    /// Hashes a set of recovery codes (normalised) in one blocking task.
    pub async fn hash_codes(&self, codes: Vec<String>) -> Result<Vec<String>, CoreError> {
        self.run(move || {
            let argon2 = argon2_light()?;
            codes.iter().map(|code| hash_with(&argon2, code)).collect()
        })
        .await?
    }

    /// Which of `candidates` (id, hash) `code` is. Every candidate is checked,
    /// whatever matched first, so the time taken says nothing about which.
    pub async fn find_code(&self, code: String, candidates: Vec<(i64, String)>) -> Result<Option<i64>, CoreError> {
        self.run(move || {
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

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, CoreError> {
        let permit = tokio::time::timeout(QUEUE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| CoreError::Busy)?
            .map_err(|_| CoreError::Busy)?;
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            let _ = done.send(work());
        });
        self.workers
            .lock()
            .map_err(|_| CoreError::Internal("the hashing threads' queue is poisoned".into()))?
            .send(job)
            .map_err(|_| CoreError::Internal("the hashing threads are gone".into()))?;
        result.await.map_err(|_| CoreError::Internal("a password hash job failed".into()))
    }
}

/// Work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Starts `count` hashing threads that take jobs until the sender is dropped.
fn spawn_workers(count: usize) -> Result<mpsc::Sender<Job>, CoreError> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for n in 0..count {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || loop {
                // The lock is held only while waiting; the job runs after it is released.
                let job = match queue.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })
            .map_err(|e| CoreError::Internal(format!("starting a hashing thread: {e}")))?;
    }
    Ok(jobs)
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
        let hasher = PasswordHasher::new(2)?;
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
