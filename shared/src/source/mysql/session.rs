//! The session: the coordinating connection, the readers lined up on one instant as the
//! [`Consistency`] says, and what is read from the coordinating connection (server facts, the
//! catalog, key bounds, partition profiles).

use std::sync::Arc;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::url::MyUrl;
use super::{bounds, catalog, profile};
use crate::error::{Error, Result};
use crate::model::SourceInfo;
use crate::model::TableDesc;
use crate::source::Discovered;
use crate::source::timeouts::ReadLimit;

/// How readers of one export see the same instant. MySQL cannot share a snapshot between
/// connections, so each reader holds its own `START TRANSACTION WITH CONSISTENT SNAPSHOT`
/// for the whole export; the modes differ in how those snapshots are lined up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// Every reader starts its snapshot while `FLUSH TABLES WITH READ LOCK` holds all writes
    /// (as mydumper does); the lock is released as soon as they have. All readers see the same
    /// instant. Needs the RELOAD privilege (or BACKUP/flush rights), which RDS does not grant.
    #[default]
    LockedStart,
    /// One reader, one snapshot: consistent without any lock, but not parallel.
    Single,
    /// Each reader takes its own snapshot when it connects: consistent only on an idle source,
    /// such as an instance restored from a snapshot (the serverless case).
    PerReader,
}

/// Starts the long read-only transaction a reader keeps for the whole export.
async fn start_snapshot(conn: &mut Conn) -> Result<()> {
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .map_err(|e| Error::mysql("starting a consistent snapshot", e))
}

/// The coordinating connection and, for the lined-up modes, the readers opened under it.
pub struct MySession {
    url: MyUrl,
    coordinator: Mutex<Conn>,
    consistency: Consistency,
    /// Readers already inside their snapshot, handed out to reader tasks.
    ready: Arc<std::sync::Mutex<Vec<Conn>>>,
}

/// The oldest servers we read: older ones lack `START TRANSACTION ... READ ONLY` or
/// `information_schema` columns we use.
fn check_version(version: &str) -> Result<()> {
    let mut nums = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    let (major, minor) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    let mariadb = version.to_ascii_lowercase().contains("mariadb");
    let ok = if mariadb {
        (major, minor) >= (10, 3)
    } else {
        (major, minor) >= (5, 7)
    };
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "server version {version} is not supported: snapex reads MySQL 5.7 or later and MariaDB 10.3 or later"
        )))
    }
}

impl MySession {
    /// Connects and lines up `readers` reader connections as `consistency` says.
    pub async fn open(url: &MyUrl, consistency: Consistency, readers: usize) -> Result<MySession> {
        let mut coordinator = url.connect().await?;
        let version: String = coordinator
            .query_first("SELECT VERSION()")
            .await
            .map_err(|e| Error::mysql("reading the server version", e))?
            .unwrap_or_default();
        check_version(&version)?;
        let mut ready = Vec::new();
        match consistency {
            Consistency::LockedStart => {
                coordinator.query_drop("FLUSH TABLES WITH READ LOCK").await.map_err(|e| {
                    Error::InvalidInput(format!(
                        "cannot line readers up with FLUSH TABLES WITH READ LOCK ({e}): grant RELOAD, or use \
                         --mysql-consistency single (one reader) or per-reader (only on an idle source)"
                    ))
                })?;
                let started = async {
                    for _ in 0..readers.max(1) {
                        let mut conn = url.connect().await?;
                        start_snapshot(&mut conn).await?;
                        ready.push(conn);
                    }
                    Ok::<_, Error>(())
                }
                .await;
                // Release writers whatever happened: the lock is held only while readers start.
                let unlocked = coordinator.query_drop("UNLOCK TABLES").await;
                started?;
                unlocked.map_err(|e| Error::mysql("releasing the global read lock", e))?;
            }
            Consistency::Single => {
                let mut conn = url.connect().await?;
                start_snapshot(&mut conn).await?;
                ready.push(conn);
            }
            Consistency::PerReader => {}
        }
        Ok(MySession {
            url: url.clone(),
            coordinator: Mutex::new(coordinator),
            consistency,
            ready: Arc::new(std::sync::Mutex::new(ready)),
        })
    }

    pub fn consistency(&self) -> Consistency {
        self.consistency
    }

    pub async fn info(&self) -> Result<SourceInfo> {
        let mut c = self.coordinator.lock().await;
        let (version, database, max_connections): (String, Option<String>, u64) = c
            .query_first("SELECT VERSION(), DATABASE(), @@max_connections")
            .await
            .map_err(|e| Error::mysql("reading the server version", e))?
            .unwrap_or_default();
        let engine = if version.to_ascii_lowercase().contains("mariadb") {
            "mariadb"
        } else {
            "mysql"
        };
        Ok(SourceInfo {
            engine,
            version,
            database: database.unwrap_or_else(|| "all".into()),
            endpoint: self.url.endpoint().to_string(),
            max_connections,
        })
    }

    pub async fn discover(&self, each: impl FnMut(Discovered) -> Result<()>) -> Result<()> {
        let mut c = self.coordinator.lock().await;
        catalog::discover(&mut c, self.url.database(), each).await
    }

    pub async fn fetch_bounds(&self, table: &mut TableDesc) -> Result<()> {
        let mut c = self.coordinator.lock().await;
        bounds::fetch_bounds(&mut c, table).await
    }

    /// Rows per partition group of a table with Hive partitions, for the planner.
    pub async fn profile(
        &self,
        table: &TableDesc,
        p: &crate::model::Partitioning,
    ) -> Result<Vec<crate::model::ProfileGroup>> {
        let mut c = self.coordinator.lock().await;
        profile::profile(&mut c, table, p).await
    }

    /// A factory for reader connections: lined-up ones first, else new ones.
    pub fn readers(&self) -> MyReaders {
        MyReaders {
            url: self.url.clone(),
            ready: self.ready.clone(),
            consistency: self.consistency,
        }
    }
}

/// Hands out reader connections, each inside its snapshot.
#[derive(Clone)]
pub struct MyReaders {
    url: MyUrl,
    ready: Arc<std::sync::Mutex<Vec<Conn>>>,
    consistency: Consistency,
}

impl std::fmt::Debug for MyReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MyReaders")
            .field("url", &self.url)
            .field("consistency", &self.consistency)
            .finish()
    }
}

impl MyReaders {
    /// Readers that each take their own snapshot when they connect: consistent with each
    /// other only on a source nothing writes to.
    pub fn per_reader(url: &MyUrl) -> MyReaders {
        MyReaders {
            url: url.clone(),
            ready: Arc::default(),
            consistency: Consistency::PerReader,
        }
    }

    /// The read timeout of the readers' connections.
    pub fn read_limit(&self) -> ReadLimit {
        self.url.timeouts().reads(self.url.endpoint())
    }

    pub async fn connect(&self) -> Result<Conn> {
        if let Some(conn) = self.ready.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(conn);
        }
        match self.consistency {
            Consistency::PerReader => {
                let mut conn = self.url.connect().await?;
                start_snapshot(&mut conn).await?;
                Ok(conn)
            }
            // Lined-up snapshots cannot be taken later: a reader beyond those opened at the
            // start would see another instant.
            // A reader lost after the start (its connection killed, the server restarted)
            // cannot be replaced inside the same view.
            _ => Err(Error::ViewLost(
                "a MySQL reader connection was lost and its snapshot cannot be re-entered".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(check_version("10.11.19-MariaDB-0+deb12u1").is_ok());
        assert!(check_version("8.0.36").is_ok());
        assert!(check_version("5.7.44-log").is_ok());
        assert!(check_version("5.6.51").is_err());
        assert!(check_version("10.2.44-MariaDB").is_err());
    }
}
