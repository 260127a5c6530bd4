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
//!
//! `record` holds what a generation says, `identity` who a run is, `dir` the reads and
//! creates of one lease's generations; this file holds how a run takes, checks, publishes
//! and gives up a lease.

mod dir;
mod identity;
mod record;

pub use identity::{RunIdentity, random_u64};
pub use record::{LeaseRecord, LeaseState};

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use futures::future::BoxFuture;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::error::{Error, Result};
use crate::sink::Destination;
use crate::sink::fenced::Fence;
use dir::LeaseDir;
use identity::running_here;

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

    /// The newest generation of the lease in `dir`, whoever wrote it: what a step that lost
    /// the lease reads to learn whether the run that took it over has published.
    pub async fn newest(
        dest: &Destination,
        dir: Path,
        what: String,
        export_id: &str,
    ) -> Result<Option<LeaseRecord>> {
        LeaseDir::new(dest, dir, what, export_id).highest().await
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
