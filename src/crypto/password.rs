//! Password hashing with Argon2id, its cost taken from configuration.
//!
//! Argon2 is memory-hard on purpose (19 MiB and ~11 ms of a core per check at the
//! default cost), which makes it the easiest way to exhaust a server: a flood of login
//! attempts would allocate 19 MiB each on as many threads. So every hash runs on a small
//! pool of threads of its own (as many as the machine has cores, by default), each
//! reusing one memory buffer, behind a bounded queue: past it, callers get [`Busy`] at
//! once and the page answers 503 with `Retry-After`. Memory stays at
//! `workers × argon2_memory_kib` whatever the load (a stored hash of a higher cost,
//! imported from elsewhere, runs in a buffer of its own, never over [`MAX_MEMORY_KIB`]),
//! and goes back to the system seconds after the last check ([`KEEP_MEMORY_IDLE`]).
//! Starting costs no hashing: the hash checked for unknown identifiers is made, not
//! computed ([`unmatchable_hash`]).

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, AtomicUsize, Ordering},
    mpsc,
};
use std::time::Duration;

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
};
use zeroize::Zeroizing;

use crate::config::PasswordConfig;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("not a valid PHC password hash string")]
    BadHash,
    #[error(transparent)]
    Busy(#[from] Busy),
}

/// Every hashing worker is busy and the queue is full: try again in a moment.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the server is busy checking passwords; try again in a moment")]
pub struct Busy;

/// The most common passwords, refused for new passwords (NIST SP 800-63B 5.1.1.2).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// Work for the hashing threads.
enum Work {
    Verify { password: Zeroizing<String>, phc: String, reply: tokio::sync::oneshot::Sender<bool> },
    Hash { password: Zeroizing<String>, reply: tokio::sync::oneshot::Sender<Result<String, PasswordError>> },
}

pub struct PasswordHasherService {
    min_length: usize,
    params: Params,
    /// A hash verified when the account does not exist, so that the response time
    /// does not tell whether an identifier exists.
    dummy_hash: String,
    jobs: Mutex<mpsc::Sender<Work>>,
    /// Jobs queued or running, and how many may be.
    in_flight: Arc<AtomicUsize>,
    capacity: usize,
    workers: usize,
    /// Moving average of one check, in microseconds: what a refusal that skips the
    /// check waits, so that it takes the time of one.
    typical_micros: Arc<AtomicU64>,
    /// The hashing buffers between jobs (the workers give them back when idle).
    #[cfg(test)]
    memory: Arc<Memory>,
}

impl PasswordHasherService {
    pub fn new(config: &PasswordConfig) -> Result<Self, PasswordError> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        let workers = if config.workers == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            config.workers
        };
        let (sender, receiver) = mpsc::channel::<Work>();
        let receiver = Arc::new(Mutex::new(receiver));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let typical_micros = Arc::new(AtomicU64::new(0));
        let memory = Arc::new(Memory::default());
        for index in 0..workers {
            let worker = Worker {
                receiver: receiver.clone(),
                params: params.clone(),
                in_flight: in_flight.clone(),
                typical_micros: typical_micros.clone(),
                memory: memory.clone(),
            };
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || worker.run())
                .map_err(|e| PasswordError::Hash(format!("cannot start a hashing thread: {e}")))?;
        }
        let dummy_hash = unmatchable_hash(&params)?;
        let service = Self {
            min_length: config.min_length,
            params,
            dummy_hash,
            jobs: Mutex::new(sender),
            in_flight,
            capacity: workers + config.queue,
            workers,
            typical_micros,
            #[cfg(test)]
            memory,
        };
        // A first measure of one check, in the background: the server answers without
        // waiting for it (the start stays fast), and refusals that skip the check wait
        // the time it took.
        let (reply, _) = tokio::sync::oneshot::channel();
        let warm_up =
            Work::Verify { password: Zeroizing::new(super::random_token()), phc: service.dummy_hash.clone(), reply };
        let _ = service.submit(warm_up);
        Ok(service)
    }

    /// Hashing threads (the limit on parallel checks).
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Queues work unless the queue is full.
    fn submit(&self, work: Work) -> Result<(), Busy> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let sent = self.jobs.lock().map_err(|_| Busy)?.send(work);
        if sent.is_err() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        Ok(())
    }

    /// Verifies a password against a stored PHC string; a malformed hash never matches.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool, Busy> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Work::Verify { password: Zeroizing::new(password.to_string()), phc: phc.to_string(), reply })?;
        answer.await.map_err(|_| Busy)
    }

    /// Spends the time of one verification, for identifiers that do not exist.
    pub async fn verify_dummy(&self, password: &str) -> Result<(), Busy> {
        self.verify(password, &self.dummy_hash).await.map(|_| ())
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh random salt.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Work::Hash { password: Zeroizing::new(password.to_string()), reply })?;
        answer.await.map_err(|_| Busy)?
    }

    /// How long one check takes here, for refusals that skip it.
    pub fn typical_duration(&self) -> Duration {
        Duration::from_micros(self.typical_micros.load(Ordering::Relaxed))
    }

    /// Why a new password for `username` is refused, if it is: too short, containing the
    /// identifier, or one of the most common passwords.
    pub fn policy_violation(&self, username: &str, password: &str) -> Option<(&'static str, String)> {
        let lowered = password.to_lowercase();
        if password.chars().count() < self.min_length {
            return Some(("password_too_short", format!("a password has at least {} characters", self.min_length)));
        }
        if !username.is_empty() && lowered.contains(&username.to_lowercase()) {
            return Some(("password_contains_identifier", "a password must not contain the identifier".into()));
        }
        let core = lowered.trim_end_matches(|c: char| c.is_ascii_digit() || c == '!');
        if COMMON_PASSWORDS.lines().any(|common| common == lowered || (!core.is_empty() && common == core)) {
            return Some(("password_common", "this password is among the most common ones; choose another".into()));
        }
        None
    }

    /// Checks that an operator-provided hash is a PHC string we can verify, at a cost
    /// within [`MAX_MEMORY_KIB`] and [`MAX_MEMORY_PASSES_KIB`].
    pub fn check_phc(phc: &str) -> Result<(), PasswordError> {
        let parsed = PasswordHash::new(phc).map_err(|_| PasswordError::BadHash)?;
        let params = Params::try_from(&parsed).map_err(|_| PasswordError::BadHash)?;
        if !affordable(&params) {
            return Err(PasswordError::Params(format!(
                "m={}, t={}, p={} costs more than Sésame checks (at most m={MAX_MEMORY_KIB}, m×t={MAX_MEMORY_PASSES_KIB}, p={MAX_LANES})",
                params.m_cost(),
                params.t_cost(),
                params.p_cost()
            )));
        }
        Ok(())
    }

    /// The configured Argon2 cost (for benchmarks and documentation).
    pub fn params(&self) -> &Params {
        &self.params
    }
}

/// One hashing thread: takes work from the shared queue, with a memory buffer from the
/// shared spares.
struct Worker {
    receiver: Arc<Mutex<mpsc::Receiver<Work>>>,
    params: Params,
    in_flight: Arc<AtomicUsize>,
    typical_micros: Arc<AtomicU64>,
    memory: Arc<Memory>,
}

/// How long the hashing memory is kept once the queue is empty. A burst of logins reuses
/// the buffers (no page faults for 19 MiB each time); a quiet moment gives them back to
/// the system, so that the resident size falls back to the idle one.
const KEEP_MEMORY_IDLE: Duration = Duration::from_secs(2);

/// The workers' buffers between two jobs. They are kept here, not by each thread: only
/// the thread that waits on the queue sees it stay empty (the others wait for its lock),
/// so that one frees them all.
#[derive(Default)]
struct Memory {
    spares: Mutex<Vec<Vec<Block>>>,
    /// Some hashing ran since memory was last given back.
    used: std::sync::atomic::AtomicBool,
}

impl Memory {
    fn take(&self) -> Vec<Block> {
        self.used.store(true, Ordering::Relaxed);
        self.spares.lock().ok().and_then(|mut spares| spares.pop()).unwrap_or_default()
    }

    fn put_back(&self, blocks: Vec<Block>) {
        if let Ok(mut spares) = self.spares.lock() {
            spares.push(blocks);
        }
        // A long job may end after the memory was given back: its buffer goes next time.
        self.used.store(true, Ordering::Relaxed);
    }

    /// Frees the spare buffers, and has the allocator return freed pages to the system.
    fn give_back(&self) {
        if !self.used.swap(false, Ordering::Relaxed) {
            return;
        }
        if let Ok(mut spares) = self.spares.lock() {
            spares.clear();
        }
        return_free_pages_to_the_system();
    }
}

/// glibc keeps freed memory for reuse: once a buffer of 19 MiB has been freed it raises
/// its threshold for mapping large blocks on their own, so the next buffers come from
/// its heaps and stay resident when freed. `malloc_trim` hands the free pages of every
/// heap back (measured: 69 MB resident a minute after a burst of 50 logins without it).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_free_pages_to_the_system() {
    // SAFETY: malloc_trim takes no pointer and walks glibc's own heaps under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_free_pages_to_the_system() {}

impl Worker {
    fn run(self) {
        loop {
            let work = match self.receiver.lock() {
                Ok(receiver) => receiver.recv_timeout(KEEP_MEMORY_IDLE),
                Err(_) => return,
            };
            let work = match work {
                Ok(work) => work,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.memory.give_back();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let mut blocks = self.memory.take();
            let started = crate::clock::instant();
            // The buffer goes back before the answer: whoever is answered finds it among
            // the spares (the next job of a burst, or a quiet moment to free it).
            match work {
                Work::Verify { password, phc, reply } => {
                    let matched = verify_with(&self.params, &password, &phc, &mut blocks);
                    self.record(started.elapsed());
                    self.memory.put_back(blocks);
                    let _ = reply.send(matched);
                }
                Work::Hash { password, reply } => {
                    let hashed = hash_with(&self.params, &password, &mut blocks);
                    self.memory.put_back(blocks);
                    let _ = reply.send(hashed);
                }
            }
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Keeps a moving average (7/8 old, 1/8 new) of one check's duration.
    fn record(&self, took: Duration) {
        let took = took.as_micros().min(u64::MAX as u128) as u64;
        let old = self.typical_micros.load(Ordering::Relaxed);
        let new = if old == 0 { took } else { (old * 7 + took) / 8 };
        self.typical_micros.store(new, Ordering::Relaxed);
    }
}

/// The highest cost of a stored hash (imported from elsewhere) that Sésame checks: its
/// memory in KiB (256 MiB: libsodium's "moderate", above RFC 9106's second choice), its
/// memory times passes, and its lanes. The cost is read from the hash itself, so without
/// a ceiling one hash (`m=4000000`) would make every attempt at its account allocate
/// 4 GB — or abort the server.
pub const MAX_MEMORY_KIB: u32 = 256 * 1024;
pub const MAX_MEMORY_PASSES_KIB: u64 = 1024 * 1024;
pub const MAX_LANES: u32 = 16;

fn affordable(params: &Params) -> bool {
    params.m_cost() <= MAX_MEMORY_KIB
        && u64::from(params.m_cost()) * u64::from(params.t_cost()) <= MAX_MEMORY_PASSES_KIB
        && params.p_cost() <= MAX_LANES
}

/// The memory for one run, reusing the worker's buffer for the configured cost; a hash
/// of a larger cost (imported from elsewhere) gets a buffer of its own, freed after.
fn run_argon2(
    argon2: &Argon2<'_>,
    configured: &Params,
    wanted: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    blocks: &mut Vec<Block>,
) -> Result<(), argon2::Error> {
    let count = wanted.block_count();
    if count > configured.block_count() {
        let mut own = vec![Block::default(); count];
        return argon2.hash_password_into_with_memory(password, salt, out, &mut own[..]);
    }
    if blocks.len() < count {
        blocks.resize(count, Block::default());
    }
    argon2.hash_password_into_with_memory(password, salt, out, &mut blocks[..count])
}

fn verify_with(configured: &Params, password: &str, phc: &str, blocks: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    if !affordable(&params) {
        return false;
    }
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else { return false };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = Zeroizing::new(vec![0u8; expected.as_bytes().len()]);
    run_argon2(&argon2, configured, &params, password.as_bytes(), salt, &mut out, blocks).is_ok()
        && super::constant_time_eq(&out, expected.as_bytes())
}

/// A well-formed hash at the configured cost that no password matches (a random salt and
/// a random output), for identifiers that do not exist: checking it costs what checking
/// a real one does, and making it costs nothing.
fn unmatchable_hash(params: &Params) -> Result<String, PasswordError> {
    let failed = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    let salt = super::random_bytes::<16>();
    let output = super::random_bytes::<{ Params::DEFAULT_OUTPUT_LEN }>();
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

fn hash_with(params: &Params, password: &str, blocks: &mut Vec<Block>) -> Result<String, PasswordError> {
    let failed = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = super::random_bytes::<16>();
    let mut out = Zeroizing::new([0u8; Params::DEFAULT_OUTPUT_LEN]);
    run_argon2(&argon2, params, params, password.as_bytes(), &salt, &mut out[..], blocks).map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out[..]).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher;

    fn fast(workers: usize, queue: usize) -> PasswordHasherService {
        PasswordHasherService::new(&PasswordConfig {
            min_length: 10,
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            workers,
            queue,
        })
        .unwrap()
    }

    #[test]
    fn policy_refuses_short_personal_and_common_passwords() {
        let service = fast(1, 4);
        assert!(service.policy_violation("pauline", "short").is_some());
        assert!(service.policy_violation("pauline", "Pauline2026!").is_some(), "contains the identifier");
        assert!(service.policy_violation("pauline", "motdepasse123").is_some(), "common");
        assert!(service.policy_violation("pauline", "Azertyuiop1234").is_some(), "common with digits");
        assert!(service.policy_violation("pauline", "correct horse battery").is_none());
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let service = fast(1, 4);
        let hash = service.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(service.verify("correct horse", &hash).await.unwrap());
        assert!(!service.verify("wrong horse", &hash).await.unwrap());
        assert!(!service.verify("correct horse", "not a hash").await.unwrap());
        assert!(service.typical_duration() > Duration::ZERO);
    }

    #[tokio::test]
    async fn verifies_hashes_of_another_cost() {
        let service = fast(1, 4);
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(2048, 2, 1, None).unwrap());
        let hash = other.hash_password(b"correct horse").unwrap().to_string();
        assert!(service.verify("correct horse", &hash).await.unwrap());
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x10, Params::new(512, 1, 1, None).unwrap());
        let hash = argon2i.hash_password(b"correct horse").unwrap().to_string();
        assert!(service.verify("correct horse", &hash).await.unwrap());
        assert!(!service.verify("wrong", &hash).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_costing_more_than_the_ceiling_are_refused_not_run() {
        // Found by the `import_file` fuzz target: this hash made a login allocate 4 GB.
        let huge = "$argon2id$v=19$m=4000000,t=1,p=1$c2FsdHNhbHRzYWx0$Yk4zHk3WQp7wQd2oXGFlTLz0b8m9wQk0c5oX0Bh4pDg";
        assert!(matches!(PasswordHasherService::check_phc(huge), Err(PasswordError::Params(_))));
        assert!(!fast(1, 4).verify("anything", huge).await.unwrap());
        let slow = "$argon2id$v=19$m=262144,t=5,p=1$c2FsdHNhbHRzYWx0$Yk4zHk3WQp7wQd2oXGFlTLz0b8m9wQk0c5oX0Bh4pDg";
        assert!(PasswordHasherService::check_phc(slow).is_err(), "memory × passes");
        let usual = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$Yk4zHk3WQp7wQd2oXGFlTLz0b8m9wQk0c5oX0Bh4pDg";
        assert!(PasswordHasherService::check_phc(usual).is_ok(), "RFC 9106's second choice");
    }

    /// The buffers of a burst are reused while work comes, and freed once the queue has
    /// stayed empty for [`KEEP_MEMORY_IDLE`].
    #[tokio::test]
    async fn hashing_memory_is_given_back_when_idle() {
        let service = fast(2, 4);
        let spares = || service.memory.spares.lock().unwrap().len();
        let hash = service.hash("correct horse").await.unwrap();
        let (a, b) = tokio::join!(service.verify("correct horse", &hash), service.verify("wrong", &hash));
        assert!(a.unwrap() && !b.unwrap());
        assert!((1..=2).contains(&spares()), "two workers keep at most two buffers: {}", spares());
        tokio::time::sleep(KEEP_MEMORY_IDLE + Duration::from_millis(800)).await;
        assert_eq!(spares(), 0, "the buffers were freed after a quiet moment");
        assert!(service.verify("correct horse", &hash).await.unwrap(), "and made again when needed");
    }

    #[test]
    fn the_hash_for_unknown_identifiers_matches_nothing_and_costs_the_same() {
        let params = Params::new(1024, 2, 1, None).unwrap();
        let hash = unmatchable_hash(&params).unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        assert_eq!(Params::try_from(&parsed).unwrap().m_cost(), 1024);
        assert_eq!(Params::try_from(&parsed).unwrap().t_cost(), 2);
        assert_ne!(hash, unmatchable_hash(&params).unwrap(), "a fresh salt and output each time");
        assert!(!verify_with(&params, "", &hash, &mut Vec::new()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_busy_at_once() {
        let service = Arc::new(fast(1, 2));
        let hash = service.hash("correct horse").await.unwrap();
        let attempts: Vec<_> = (0..40)
            .map(|_| {
                let (service, hash) = (service.clone(), hash.clone());
                tokio::spawn(async move { service.verify("correct horse", &hash).await })
            })
            .collect();
        let mut busy = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(matched) => assert!(matched),
                Err(Busy) => busy += 1,
            }
        }
        assert!(busy > 0, "40 checks at once cannot all queue behind one worker and two places");
        assert!(service.verify("correct horse", &hash).await.unwrap(), "the queue drains");
    }
}
