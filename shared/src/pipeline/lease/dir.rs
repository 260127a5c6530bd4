//! Where one lease's generations live, read and created with create-if-absent, and the
//! errors that name a generation's run. Apart from the lease itself because it talks to the
//! store unfenced: the lease objects are what the fence decides by.

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::record::{LeaseRecord, LeaseState};
use crate::error::{Error, Result};
use crate::sink::Destination;

/// Where one lease's generations live, and what it guards (for messages).
#[derive(Clone)]
pub(super) struct LeaseDir {
    /// The store itself, not fenced: lease objects are how the fence decides.
    pub(super) store: Arc<dyn ObjectStore>,
    url: String,
    pub(super) dir: Path,
    /// `export "x"`, or `chunk 3 of export "x"`.
    pub(super) what: String,
    export_id: String,
}

impl LeaseDir {
    pub(super) fn new(dest: &Destination, dir: Path, what: String, export_id: &str) -> LeaseDir {
        LeaseDir {
            store: dest.store.clone(),
            url: dest.url.clone(),
            dir,
            what,
            export_id: export_id.to_string(),
        }
    }

    pub(super) fn path(&self, generation: u64) -> Path {
        self.dir.clone().join(format!("{generation}.json"))
    }

    pub(super) fn store_err(&self, e: object_store::Error) -> Error {
        Error::store(&self.url, e)
    }

    /// The highest generation, if any.
    pub(super) async fn highest(&self) -> Result<Option<LeaseRecord>> {
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

    pub(super) async fn read(&self, generation: u64) -> Result<LeaseRecord> {
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
    pub(super) async fn create(
        &self,
        record: &LeaseRecord,
    ) -> Result<std::result::Result<(), LeaseRecord>> {
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
    pub(super) fn refusal(&self, last: &LeaseRecord) -> Error {
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

    pub(super) fn still_running(&self, last: &LeaseRecord) -> Error {
        Error::LeaseHeld(format!(
            "{} is being written by {} since {}, a process still running on this machine: \
             one run writes an export at a time; let it finish, or stop it and --resume again",
            self.what,
            last.who(),
            last.when()
        ))
    }

    pub(super) fn published(&self, last: &LeaseRecord) -> Error {
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
