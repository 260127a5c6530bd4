//! One writer per export. A run writes an export only while it holds the export's lease, and
//! a published export is never written again.
//!
//! The lease is a sequence of generations, one object each, `_work/lease/<n>.json`, each
//! created with create-if-absent (S3's `If-None-Match: *`, an exclusive create in a local
//! folder; object_store's `PutMode::Create`). Create-if-absent is the one conditional write
//! both stores offer (a local folder has no compare-and-swap on a version), and it is enough:
//! whoever creates generation `n + 1` first wins it, and every other creator of `n + 1` fails.
//! An object is never changed once written, so what a generation says stays true:
//!
//! - `held` by a run: that run may write while no generation above it exists;
//! - `released`: its run stopped without publishing; a new run may start over;
//! - `published`: the export is published; nobody takes the lease again.
//!
//! A new run takes generation 1, or the next after a released one; a lease held by another
//! run stops it at once, naming that run. `--resume` takes the next generation whatever the
//! last one says (but `published`): the run it takes over may be gone (killed, its machine
//! lost), and two resumes racing for the same generation cannot both win. A run checks,
//! before every write (see [`crate::sink::fenced`]), that the generation after its own does
//! not exist, so a run taken over stops at its next write. Publishing is itself a generation:
//! the holder creates `published` before it writes the manifest, so no run can take the lease
//! between its last check and the manifest, and no run can take it afterwards.
//!
//! What no check covers is a write already on its way when another run takes over: one
//! request of a run paused between its check and its write (a stopped process, a frozen
//! machine). Such a write can only replace a file of a chunk with the same chunk read again;
//! if it lands before the run that took over verifies its files (sizes and row counts, just
//! before publishing), that run stops unpublished; a write landing later than that needs a
//! request held up across the other run's whole resume, and is not caught.
//!
//! The lease objects stay under `_work/lease/` when the rest of `_work/` is removed: they are
//! what refuses a second run of a published export.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::TryStreamExt;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sink::Destination;
use crate::sink::fenced::Fence;

/// What a lease generation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseState {
    Held,
    Released,
    Published,
}

/// One generation of a lease, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub generation: u64,
    pub state: LeaseState,
    /// The run that wrote this generation.
    pub run: String,
    pub host: String,
    pub pid: u32,
    /// When the run took (or released, or published) the lease.
    pub since: DateTime<Utc>,
}

impl LeaseRecord {
    /// `run 1a2b3c4d5e6f7a8b (host h, pid 42)`
    fn who(&self) -> String {
        format!("run {} (host {}, pid {})", self.run, self.host, self.pid)
    }

    fn when(&self) -> String {
        self.since.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

/// Who this run is, as its lease generations name it: a token unique to the run, the host
/// and the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunIdentity {
    pub run: String,
    pub host: String,
    pub pid: u32,
}

impl RunIdentity {
    /// This process, with a fresh random token.
    pub fn new() -> RunIdentity {
        RunIdentity {
            run: format!("{:016x}", random_u64()),
            host: hostname(),
            pid: std::process::id(),
        }
    }
}

impl Default for RunIdentity {
    fn default() -> Self {
        RunIdentity::new()
    }
}

/// 64 random bits: std's hasher keys are drawn from the operating system's randomness (the
/// crate has no random number generator of its own, and this needs no more).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// True when `holder` is another snapex process still running on this machine: a resume
/// does not take a lease from a run that is plainly alive. (On another machine nothing tells;
/// the user's `--resume` says that run is gone.)
fn running_here(holder: &LeaseRecord, me: &RunIdentity) -> bool {
    if holder.host != me.host || holder.pid == me.pid {
        return false;
    }
    let Ok(pid) = libc::pid_t::try_from(holder.pid) else {
        return false;
    };
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    // A pid the system gave to another program since is not the holder.
    exists
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map_or(true, |cmd| String::from_utf8_lossy(&cmd).contains("snapex"))
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// How a run takes a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// A new run: only a lease nobody holds (none yet, or released).
    Fresh,
    /// `--resume`: the next generation, whoever held the last one (a run killed, or on a
    /// machine lost, cannot give it up), unless the export is published, or the holder is a
    /// process still running on this machine.
    Resume,
    /// A step that starts a serverless run's work again: the next generation, whoever held
    /// the last one, unless the export is published. The state machine starts such a step
    /// only after giving up the attempt before it.
    TakeOver,
}

/// Where one lease's generations live, and what it guards (for messages).
#[derive(Clone)]
struct LeaseDir {
    /// The store itself, not fenced: lease objects are how the fence decides.
    store: Arc<dyn ObjectStore>,
    url: String,
    dir: Path,
    /// `export "x"`, or `chunk 3 of export "x"`.
    what: String,
    export_id: String,
}

impl LeaseDir {
    fn new(dest: &Destination, dir: Path, what: String, export_id: &str) -> LeaseDir {
        LeaseDir {
            store: dest.store.clone(),
            url: dest.url.clone(),
            dir,
            what,
            export_id: export_id.to_string(),
        }
    }

    fn path(&self, generation: u64) -> Path {
        self.dir.clone().join(format!("{generation}.json"))
    }

    fn store_err(&self, e: object_store::Error) -> Error {
        Error::store(&self.url, e)
    }

    /// The highest generation, if any.
    async fn highest(&self) -> Result<Option<LeaseRecord>> {
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&self.dir))
            .try_collect()
            .await
            .map_err(|e| self.store_err(e))?;
        let top = listed
            .iter()
            .filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse().ok())
            .max();
        match top {
            Some(generation) => self.read(generation).await.map(Some),
            None => Ok(None),
        }
    }

    async fn read(&self, generation: u64) -> Result<LeaseRecord> {
        let path = self.path(generation);
        let got = self.store.get(&path).await.map_err(|e| self.store_err(e))?;
        let bytes = got.bytes().await.map_err(|e| self.store_err(e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::Internal(format!(
                "{path} is not a lease this version of snapex writes: {e}"
            ))
        })
    }

    /// Creates `record`'s generation if nobody has; `Ok(Err(winner))` when somebody has. A
    /// create whose answer was lost is sent again, and finding its own record is success.
    async fn create(&self, record: &LeaseRecord) -> Result<std::result::Result<(), LeaseRecord>> {
        let path = self.path(record.generation);
        let body =
            serde_json::to_vec(record).map_err(|e| Error::Internal(format!("lease: {e}")))?;
        let mut delay = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let opts = PutOptions::from(PutMode::Create);
            match self
                .store
                .put_opts(&path, PutPayload::from(body.clone()), opts)
                .await
            {
                Ok(_) => return Ok(Ok(())),
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let winner = self.read(record.generation).await?;
                    return Ok(if &winner == record {
                        Ok(())
                    } else {
                        Err(winner)
                    });
                }
                Err(e) => {
                    let e = self.store_err(e);
                    if !e.is_retryable() || attempt >= 5 {
                        return Err(e);
                    }
                    tracing::warn!(%path, "creating a lease failed, trying again: {e}");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
    }

    /// The error for a run that finds the lease's last generation written by another run.
    fn refusal(&self, last: &LeaseRecord) -> Error {
        match last.state {
            LeaseState::Published => self.published(last),
            _ => Error::LeaseHeld(format!(
                "{} is being written by {} since {}: one run writes an export at a time; wait \
                 for that run, or, if it is gone, finish the export with --resume --export-id {}",
                self.what,
                last.who(),
                last.when(),
                self.export_id
            )),
        }
    }

    fn still_running(&self, last: &LeaseRecord) -> Error {
        Error::LeaseHeld(format!(
            "{} is being written by {} since {}, a process still running on this machine: \
             one run writes an export at a time; let it finish, or stop it and --resume again",
            self.what,
            last.who(),
            last.when()
        ))
    }

    fn published(&self, last: &LeaseRecord) -> Error {
        Error::InvalidInput(format!(
            "export {:?} is already published in {} (by {} at {}): a published export is never \
             written again; choose another --export-id",
            self.export_id,
            self.url,
            last.who(),
            last.when()
        ))
    }
}

/// A lease this run holds (or, for a serverless step, shares with the run it works for).
pub struct Lease {
    dir: LeaseDir,
    me: RunIdentity,
    generation: AtomicU64,
    /// This run published the export: the lease is never given up after that.
    published: AtomicBool,
    /// Why the last check failed: another generation was created above ours.
    lost: Mutex<Option<String>>,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("dir", &self.dir.dir)
            .field("generation", &self.generation.load(Ordering::SeqCst))
            .finish()
    }
}

impl Lease {
    fn new(dir: LeaseDir, me: RunIdentity, generation: u64) -> Arc<Lease> {
        Arc::new(Lease {
            dir,
            me,
            generation: AtomicU64::new(generation),
            published: AtomicBool::new(false),
            lost: Mutex::new(None),
        })
    }

    /// Takes the lease in `dir` (a folder of `dest`) for run `me`, as `how` says.
    pub async fn take(
        dest: &Destination,
        dir: Path,
        what: String,
        export_id: &str,
        me: &RunIdentity,
        how: Take,
    ) -> Result<Arc<Lease>> {
        let dir = LeaseDir::new(dest, dir, what, export_id);
        // A serverless attempt that loses a race for the next generation takes the one
        // after: the newest attempt is the one the state machine waits for.
        let mut tries = 0;
        loop {
            tries += 1;
            match Lease::try_take(&dir, me, how).await? {
                Ok(lease) => return Ok(lease),
                Err(winner) if how == Take::TakeOver && tries < 10 => {
                    tracing::info!(lease = %dir.what, generation = winner.generation, "lost a race for the lease; taking the next generation");
                }
                Err(winner) => return Err(dir.refusal(&winner)),
            }
        }
    }

    /// One try at [`Lease::take`]: the lease, or the record of the run that created the
    /// generation this run tried to.
    async fn try_take(
        dir: &LeaseDir,
        me: &RunIdentity,
        how: Take,
    ) -> Result<std::result::Result<Arc<Lease>, LeaseRecord>> {
        let last = dir.highest().await?;
        let generation = match (&last, how) {
            (None, _) => 1,
            (Some(l), _) if l.state == LeaseState::Published => return Err(dir.published(l)),
            (Some(l), Take::Fresh) if l.state == LeaseState::Held => return Err(dir.refusal(l)),
            (Some(l), Take::Resume) if l.state == LeaseState::Held && running_here(l, me) => {
                return Err(dir.still_running(l));
            }
            (Some(l), _) => l.generation + 1,
        };
        let record = LeaseRecord {
            generation,
            state: LeaseState::Held,
            run: me.run.clone(),
            host: me.host.clone(),
            pid: me.pid,
            since: Utc::now(),
        };
        match dir.create(&record).await? {
            Ok(()) => {
                tracing::info!(lease = %dir.what, generation, "lease taken");
                Ok(Ok(Lease::new(dir.clone(), me.clone(), generation)))
            }
            Err(winner) if winner.state == LeaseState::Published => Err(dir.published(&winner)),
            Err(winner) => Ok(Err(winner)),
        }
    }

    /// Works under the lease as it is now held (a serverless step of the run that holds it):
    /// its checks fail once another generation follows. A lease that nobody holds is refused.
    pub async fn join(
        dest: &Destination,
        dir: Path,
        what: String,
        export_id: &str,
        me: &RunIdentity,
    ) -> Result<Arc<Lease>> {
        let dir = LeaseDir::new(dest, dir, what, export_id);
        match dir.highest().await? {
            Some(l) if l.state == LeaseState::Held => Ok(Lease::new(dir, me.clone(), l.generation)),
            Some(l) if l.state == LeaseState::Published => Err(dir.published(&l)),
            Some(l) => Err(Error::InvalidInput(format!(
                "{} was released by {} at {}: no run is writing it",
                dir.what,
                l.who(),
                l.when()
            ))),
            None => Err(Error::InvalidInput(format!(
                "{} has no lease: it was not planned by this version of snapex",
                dir.what
            ))),
        }
    }

    /// The run holding this lease.
    pub fn run(&self) -> &str {
        &self.me.run
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Fails when a generation above ours exists: another run took the lease over, or the
    /// export was published.
    pub async fn check(&self) -> Result<()> {
        let next = self.generation() + 1;
        match self.dir.store.head(&self.dir.path(next)).await {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.dir.store_err(e)),
            Ok(_) => {
                let winner = self.dir.read(next).await?;
                let why = self.lost_message(&winner);
                *self.lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
                Err(Error::LeaseLost(why))
            }
        }
    }

    fn lost_message(&self, winner: &LeaseRecord) -> String {
        let how = match winner.state {
            LeaseState::Published => "published it",
            LeaseState::Held => "took its lease over",
            LeaseState::Released => "released its lease",
        };
        format!(
            "{}: {} {how} at {}, so this run stopped writing it",
            self.dir.what,
            winner.who(),
            winner.when()
        )
    }

    /// The error a failed check recorded, if one did: what an export's failure really was
    /// when a write was refused (the refusal reaches the caller wrapped in store errors).
    pub fn lost(&self) -> Option<Error> {
        self.lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .map(Error::LeaseLost)
    }

    /// The error to report for `e`, a failure of work done under this lease.
    pub fn explain(&self, e: Error) -> Error {
        self.lost().unwrap_or(e)
    }

    /// Marks the export published: the generation after ours, `published`. From then on no
    /// run takes the lease, and this run's own writes (manifest, report, `_SUCCESS`) check
    /// against the new generation.
    pub async fn publish(&self) -> Result<()> {
        let generation = self.generation() + 1;
        match self
            .dir
            .create(&self.record(generation, LeaseState::Published))
            .await?
        {
            Ok(()) => {
                self.generation.store(generation, Ordering::SeqCst);
                self.published.store(true, Ordering::SeqCst);
                Ok(())
            }
            Err(winner) => {
                let why = self.lost_message(&winner);
                *self.lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
                Err(Error::LeaseLost(why))
            }
        }
    }

    /// Gives the lease up after a failure, so a new run may start the export over. Best
    /// effort: a run that cannot release leaves the lease held, and `--resume` takes it over.
    pub async fn release(&self) {
        if self.published.load(Ordering::SeqCst) {
            return;
        }
        let generation = self.generation() + 1;
        let record = self.record(generation, LeaseState::Released);
        match self.dir.create(&record).await {
            Ok(Ok(())) => tracing::info!(lease = %self.dir.what, generation, "lease released"),
            // Another run took it: nothing of ours to release.
            Ok(Err(_)) => {}
            Err(e) => tracing::warn!(lease = %self.dir.what, "cannot release the lease: {e}"),
        }
    }

    fn record(&self, generation: u64, state: LeaseState) -> LeaseRecord {
        LeaseRecord {
            generation,
            state,
            run: self.me.run.clone(),
            host: self.me.host.clone(),
            pid: self.me.pid,
            since: Utc::now(),
        }
    }
}

/// Every lease a piece of work holds, checked before each of its writes.
#[derive(Debug)]
pub struct Leases(pub Vec<Arc<Lease>>);

impl Fence for Leases {
    fn check(&self) -> BoxFuture<'_, object_store::Result<()>> {
        Box::pin(async move {
            for lease in &self.0 {
                lease
                    .check()
                    .await
                    .map_err(|e| object_store::Error::Generic {
                        store: "lease",
                        source: Box::new(e),
                    })?;
            }
            Ok(())
        })
    }
}

impl Leases {
    /// The error to report for `e`: the first lease found lost, else `e`.
    pub fn explain(&self, e: Error) -> Error {
        self.0.iter().find_map(|l| l.lost()).unwrap_or(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;

    fn someone(host: &str) -> RunIdentity {
        RunIdentity {
            host: host.into(),
            ..RunIdentity::new()
        }
    }

    async fn take(dest: &Destination, me: &RunIdentity, how: Take) -> Result<Arc<Lease>> {
        let layout = Layout::new(&dest.root, "x");
        Lease::take(
            dest,
            layout.work_lease_dir(),
            "export \"x\"".into(),
            "x",
            me,
            how,
        )
        .await
    }

    fn temp_dest(tag: &str) -> (std::path::PathBuf, Destination) {
        let dir = std::env::temp_dir().join(format!(
            "snapex-lease-{tag}-{}-{:x}",
            std::process::id(),
            random_u64()
        ));
        let dest = Destination::open(dir.to_str().unwrap(), None).unwrap();
        (dir, dest)
    }

    #[tokio::test]
    async fn one_holder_takeovers_stop_the_old_holder_and_publishing_ends_it() {
        let (dir, dest) = temp_dest("cycle");
        let (a, b, c) = (someone("a"), someone("b"), someone("c"));
        let held = take(&dest, &a, Take::Fresh).await.unwrap();
        assert_eq!(held.generation(), 1);
        held.check().await.unwrap();

        let refused = take(&dest, &b, Take::Fresh).await.unwrap_err();
        assert!(matches!(refused, Error::LeaseHeld(_)), "{refused}");
        let shown = refused.to_string();
        let who = format!(
            "is being written by run {} (host a, pid {}) since 20",
            a.run, a.pid
        );
        assert!(shown.contains(&who), "{shown}");
        assert!(shown.contains("--resume --export-id x"), "{shown}");

        // A resume from another machine takes it over; the old holder's writes stop.
        let resumed = take(&dest, &b, Take::Resume).await.unwrap();
        assert_eq!(resumed.generation(), 2);
        let fenced = dest.fenced(Arc::new(Leases(vec![held.clone()])));
        let path = object_store::path::Path::from("x/public/t/part-all.parquet");
        assert!(fenced.put(&path, b"late".to_vec()).await.is_err());
        assert!(
            !dest.exists(&path).await.unwrap(),
            "the refused write is not made"
        );
        let lost = held.explain(Error::Internal("a store error".into()));
        assert!(
            lost.to_string().contains(&format!(
                "run {} (host b, pid {}) took its lease over",
                b.run, b.pid
            )),
            "{lost}"
        );
        // The old holder cannot release or publish what it no longer holds.
        held.release().await;
        assert!(held.publish().await.is_err());
        resumed.check().await.unwrap();

        resumed.publish().await.unwrap();
        assert_eq!(resumed.generation(), 3);
        // Its own writes after publishing (manifest, report, _SUCCESS) are still allowed.
        resumed.check().await.unwrap();
        resumed.release().await;
        for how in [Take::Fresh, Take::Resume, Take::TakeOver] {
            let e = take(&dest, &c, how).await.unwrap_err();
            assert!(
                e.to_string().contains("is already published"),
                "{how:?}: {e}"
            );
        }
        let generations = dest
            .list(&Layout::new(&dest.root, "x").work_lease_dir())
            .await
            .unwrap();
        assert_eq!(generations.len(), 3, "{generations:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_released_lease_is_taken_fresh_and_racing_takers_get_one_generation_each() {
        let (dir, dest) = temp_dest("release");
        let first = take(&dest, &someone("a"), Take::Fresh).await.unwrap();
        first.release().await;
        let next = take(&dest, &someone("b"), Take::Fresh).await.unwrap();
        assert_eq!(next.generation(), 3);

        // Eight resumes at once: each either wins a generation of its own or is refused.
        let tries = (0..8).map(|i| {
            let dest = dest.clone();
            async move { take(&dest, &someone(&format!("r{i}")), Take::Resume).await }
        });
        let results = futures::future::join_all(tries).await;
        let mut won: Vec<u64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|l| l.generation()))
            .collect();
        won.sort();
        let distinct: std::collections::BTreeSet<u64> = won.iter().copied().collect();
        assert_eq!(distinct.len(), won.len(), "a generation won twice: {won:?}");
        assert!(!won.is_empty());
        for r in &results {
            if let Err(e) = r {
                assert!(matches!(e, Error::LeaseHeld(_)), "{e}");
            }
        }
        // Only the newest may write.
        let newest = won.last().copied().unwrap();
        for lease in results.iter().flatten() {
            assert_eq!(lease.check().await.is_ok(), lease.generation() == newest);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
