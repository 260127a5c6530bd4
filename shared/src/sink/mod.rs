//! The destination: an object store opened from a URL (a local folder by default, or any
//! S3-compatible bucket), and the Parquet writer that streams a piece into it.

mod encoding;
pub mod fenced;
mod parquet_file;

pub use parquet_file::{FileWritten, ParquetOptions, PieceWriter};

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{Error, Result};

/// An opened destination.
#[derive(Clone)]
pub struct Destination {
    pub store: Arc<dyn ObjectStore>,
    /// The prefix inside the store that the URL points at.
    pub root: Path,
    /// The URL as given, for messages and the manifest.
    pub url: String,
    /// What a store path is appended to for its full URL: `s3://bucket` or `file:///abs/dir`.
    base: String,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A destination URL, checked but not yet opened (opening a folder creates it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Local(std::path::PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Target {
    /// Parses a path or `file://` URL, or `s3://bucket[/prefix]`.
    pub fn parse(url: &str) -> Result<Target> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "destination {url:?} names no bucket: use s3://bucket/prefix"
                )));
            }
            Path::parse(prefix)
                .map_err(|e| Error::InvalidInput(format!("destination prefix {prefix:?}: {e}")))?;
            return Ok(Target::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        match url.strip_prefix("file://") {
            Some(p) => Ok(Target::Local(p.into())),
            None if url.contains("://") => Err(Error::InvalidInput(format!(
                "destination {url:?}: unsupported scheme; use a folder path, file:///path or s3://bucket/prefix"
            ))),
            None if url.is_empty() => Err(Error::InvalidInput("destination is empty".into())),
            None => Ok(Target::Local(url.into())),
        }
    }
}

impl Destination {
    /// Opens `url` (see [`Target::parse`]); a local folder is created if missing. For S3,
    /// credentials, region and endpoint come from the usual `AWS_*` environment variables;
    /// `endpoint` (a flag) overrides `AWS_ENDPOINT_URL`.
    pub fn open(url: &str, endpoint: Option<&str>) -> Result<Destination> {
        match Target::parse(url)? {
            Target::S3 { bucket, prefix } => {
                let store = s3_builder(&bucket, endpoint)
                    .build()
                    .map_err(|e| Error::InvalidInput(format!("destination {url}: {e}")))?;
                let root = Path::parse(&prefix).map_err(|e| {
                    Error::InvalidInput(format!("destination prefix {prefix:?}: {e}"))
                })?;
                Ok(Destination {
                    store: Arc::new(store),
                    root,
                    url: url.to_string(),
                    base: format!("s3://{bucket}"),
                })
            }
            Target::Local(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| {
                    Error::InvalidInput(format!(
                        "destination {:?} cannot be created: {e}",
                        dir.display().to_string()
                    ))
                })?;
                let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| {
                    Error::InvalidInput(format!("destination {}: {e}", dir.display()))
                })?;
                // Catalog locations must not depend on the directory the command ran in.
                let absolute = std::fs::canonicalize(&dir).map_err(|e| {
                    Error::InvalidInput(format!("destination {}: {e}", dir.display()))
                })?;
                Ok(Destination {
                    store: Arc::new(store),
                    root: Path::default(),
                    url: url.to_string(),
                    base: format!("file://{}", absolute.display()),
                })
            }
        }
    }

    /// The folder `dir` (a path in this store) as a destination of its own, over the same
    /// store and its connections: what reads one export of a destination as a whole (its
    /// catalog, its manifest) without opening the store again.
    pub fn subfolder(&self, dir: &Path) -> Destination {
        Destination {
            store: self.store.clone(),
            root: dir.clone(),
            url: self.folder_url(dir).trim_end_matches('/').to_string(),
            base: self.base.clone(),
        }
    }

    /// The full URL of the folder `dir` (a path in this store), ending in `/`: what Athena
    /// takes as a table's `LOCATION`. The path's segments are used as stored (escaped by
    /// [`crate::layout`]), so the URL names exactly the objects that were written.
    pub fn folder_url(&self, dir: &Path) -> String {
        let base = self.base.trim_end_matches('/');
        if dir.as_ref().is_empty() {
            format!("{base}/")
        } else {
            format!("{base}/{dir}/")
        }
    }

    /// Proves we can write and delete under `prefix` before any work starts, so a wrong
    /// bucket or a read-only folder fails in a second, not after an hour of reading.
    ///
    /// The probe is named after `run`, so runs checking one destination at once do not delete
    /// each other's probe.
    pub async fn check_writable(&self, prefix: &Path, run: &str) -> Result<()> {
        let probe = prefix.clone().join(format!(".snapex-write-probe-{run}"));
        self.store
            .put(&probe, PutPayload::from_static(b"probe"))
            .await
            .map_err(|e| {
                Error::InvalidInput(format!(
                    "destination {} is not writable: {e} (check that the bucket or folder \
                     exists and that the credentials in use may write and delete objects there)",
                    self.url
                ))
            })?;
        self.store
            .delete(&probe)
            .await
            .map_err(|e| Error::store(&self.url, e))?;
        Ok(())
    }

    /// True if an object exists at `path`.
    pub async fn exists(&self, path: &Path) -> Result<bool> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Error::store(&self.url, e)),
        }
    }

    /// Every object under `prefix`, as the store lists them: a page at a time, so a listing of
    /// millions of objects is never held at once.
    pub fn list_each(
        &self,
        prefix: &Path,
    ) -> impl futures::Stream<Item = Result<Path>> + Send + 'static {
        let url = self.url.clone();
        self.store
            .list(Some(prefix))
            .map_ok(|m| m.location)
            .map_err(move |e| Error::store(&url, e))
    }

    /// Every object under `prefix`.
    pub async fn list(&self, prefix: &Path) -> Result<Vec<Path>> {
        self.store
            .list(Some(prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| Error::store(&self.url, e))
    }

    /// The whole object at `path`.
    pub async fn get(&self, path: &Path) -> Result<Vec<u8>> {
        let got = self
            .store
            .get(path)
            .await
            .map_err(|e| Error::store(&self.url, e))?;
        let bytes = got.bytes().await.map_err(|e| Error::store(&self.url, e))?;
        Ok(bytes.to_vec())
    }

    /// Bytes `range` of the object at `path`.
    pub async fn get_range(&self, path: &Path, range: std::ops::Range<u64>) -> Result<Vec<u8>> {
        let bytes = self
            .store
            .get_range(path, range)
            .await
            .map_err(|e| Error::store(&self.url, e))?;
        Ok(bytes.to_vec())
    }

    /// The object's size and up to its last `n` bytes, in one request: a file's footer
    /// without asking for its size first.
    pub async fn get_tail(&self, path: &Path, n: u64) -> Result<(u64, Vec<u8>)> {
        let options =
            object_store::GetOptions::default().with_range(Some(object_store::GetRange::Suffix(n)));
        let got = self
            .store
            .get_opts(path, options)
            .await
            .map_err(|e| Error::store(&self.url, e))?;
        let size = got.meta.size;
        let bytes = got.bytes().await.map_err(|e| Error::store(&self.url, e))?;
        Ok((size, bytes.to_vec()))
    }

    /// The bucket and key of a store path, as an S3 API call names it (for a local folder:
    /// the folder's absolute path and the path under it).
    pub fn bucket_and_key(&self, path: &Path) -> (String, String) {
        let bucket = match self.base.strip_prefix("s3://") {
            Some(bucket) => bucket.to_string(),
            None => self.base.trim_start_matches("file://").to_string(),
        };
        (bucket, path.as_ref().to_string())
    }

    /// Removes what unfinished uploads left under `prefix`. A local folder stages each file
    /// as `<name>#<n>` beside it until the file is complete; a process killed mid-file leaves
    /// that staging file behind, and listings do not show it. (An S3 bucket keeps unfinished
    /// multipart uploads out of sight too; the bucket's lifecycle rule aborts them.)
    pub async fn remove_unfinished_uploads(&self, prefix: &Path) -> Result<()> {
        let Some(dir) = self.local_dir(prefix) else {
            return Ok(());
        };
        let removed = tokio::task::spawn_blocking(move || remove_staging_files(&dir))
            .await
            .map_err(|e| Error::Internal(format!("removing unfinished uploads: {e}")))?
            .map_err(|e| {
                Error::InvalidInput(format!(
                    "destination {}: cannot remove unfinished uploads: {e}",
                    self.url
                ))
            })?;
        if removed > 0 {
            tracing::info!(removed, "removed files of unfinished uploads");
        }
        Ok(())
    }

    /// Removes the local folder `prefix` once its objects are deleted (an object store leaves
    /// a local store's emptied folders behind). Nothing to do in a bucket.
    pub async fn remove_empty_folder(&self, prefix: &Path) -> Result<()> {
        let Some(dir) = self.local_dir(prefix) else {
            return Ok(());
        };
        let gone = tokio::task::spawn_blocking(move || remove_empty_dirs(&dir))
            .await
            .map_err(|e| Error::Internal(format!("removing an emptied folder: {e}")))?;
        gone.map_err(|e| {
            Error::InvalidInput(format!(
                "destination {}: cannot remove an emptied folder: {e}",
                self.url
            ))
        })
    }

    /// The local folder a store path names, for a local destination.
    fn local_dir(&self, prefix: &Path) -> Option<std::path::PathBuf> {
        let root = self.base.strip_prefix("file://")?;
        let mut dir = std::path::PathBuf::from(root);
        dir.extend(prefix.parts().map(|p| p.as_ref().to_string()));
        Some(dir)
    }

    pub async fn delete(&self, path: &Path) -> Result<()> {
        self.store
            .delete(path)
            .await
            .map_err(|e| Error::store(&self.url, e))
    }

    /// This destination with every write asked of `fence` first (see [`fenced`]).
    pub fn fenced(&self, fence: Arc<dyn fenced::Fence>) -> Destination {
        Destination {
            store: Arc::new(fenced::Fenced::new(self.store.clone(), fence)),
            ..self.clone()
        }
    }

    /// Writes `path` only if no object is there (`If-None-Match: *` on S3). Returns false,
    /// writing nothing, if another object is. A conditional write is not retried by the store
    /// client (it is not idempotent), so it is retried here: a write whose answer was lost
    /// finds its own bytes there, which is success.
    pub async fn put_new(&self, path: &Path, bytes: Vec<u8>) -> Result<bool> {
        let mut delays = crate::retry::CONDITIONAL_WRITE.delays();
        loop {
            let opts = PutOptions::from(PutMode::Create);
            let e = match self
                .store
                .put_opts(path, PutPayload::from(bytes.clone()), opts)
                .await
            {
                Ok(_) => return Ok(true),
                Err(object_store::Error::AlreadyExists { .. }) => {
                    return Ok(self.get(path).await? == bytes);
                }
                Err(e) => Error::store(&self.url, e),
            };
            let Some(delay) = delays.next().filter(|_| e.is_retryable()) else {
                return Err(e);
            };
            tracing::warn!(%path, "a create-if-absent write failed, trying again: {e}");
            tokio::time::sleep(delay).await;
        }
    }

    pub async fn put(&self, path: &Path, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(path, PutPayload::from(bytes))
            .await
            .map_err(|e| Error::store(&self.url, e))?;
        Ok(())
    }
}

/// The S3 client's settings for `bucket`: credentials and region from the usual `AWS_*`
/// variables, `endpoint` (a flag) over `AWS_ENDPOINT_URL`.
fn s3_builder(bucket: &str, endpoint: Option<&str>) -> AmazonS3Builder {
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let endpoint = endpoint
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    if let Some(ep) = endpoint {
        b = b
            .with_allow_http(ep.starts_with("http://"))
            .with_endpoint(ep);
    }
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        b = b.with_region("us-east-1");
    }
    b
}

/// Checks, before anything else runs, that an S3 destination has credentials to sign with,
/// so that an export without any fails at once and says so, not after planning with an error
/// of the instance metadata service. Credentials in the environment (keys, a web identity,
/// a container's) are taken as found: a bad one fails the destination's write check. Only
/// when the instance metadata service is the last source left is it asked here, as briefly as
/// the AWS SDKs ask it (two retries, a second to connect; not at all when
/// `AWS_EC2_METADATA_DISABLED` is `true`): on EC2 it answers, and elsewhere its failure means
/// there are no credentials. A local destination needs none.
pub async fn check_credentials(url: &str, endpoint: Option<&str>) -> Result<()> {
    use object_store::RetryConfig;
    use object_store::aws::AmazonS3ConfigKey as Key;
    let Target::S3 { bucket, .. } = Target::parse(url)? else {
        return Ok(());
    };
    let b = s3_builder(&bucket, endpoint);
    let set = |k: Key| b.get_config_value(&k).is_some_and(|v| !v.is_empty());
    let unsigned = b
        .get_config_value(&Key::SkipSignature)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let elsewhere = set(Key::AccessKeyId)
        || set(Key::SecretAccessKey)
        || (set(Key::WebIdentityTokenFile) && set(Key::RoleArn))
        || set(Key::ContainerCredentialsRelativeUri)
        || (set(Key::ContainerCredentialsFullUri) && set(Key::ContainerAuthorizationTokenFile));
    if unsigned || elsewhere {
        return Ok(());
    }
    // As the AWS SDKs do; object_store itself would still ask the service.
    if std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(Error::NoCredentials {
            destination: url.to_string(),
            cause: "AWS_EC2_METADATA_DISABLED turns the instance metadata service off".into(),
        });
    }
    let metadata = b
        .get_config_value(&Key::MetadataEndpoint)
        .unwrap_or_else(|| "http://169.254.169.254".into());
    let probe = b
        .with_retry(RetryConfig {
            max_retries: 2,
            retry_timeout: std::time::Duration::from_secs(10),
            ..RetryConfig::default()
        })
        .build()
        .map_err(|e| Error::InvalidInput(format!("destination {url}: {e}")))?;
    match probe.credentials().get_credential().await {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::NoCredentials {
            destination: url.to_string(),
            cause: format!(
                "the instance metadata service at {metadata} did not answer: {}",
                short_cause(&e)
            ),
        }),
    }
}

/// The innermost cause of `e`: what went wrong, without the layers that say where.
fn short_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    crate::error::one_line(&inner.to_string())
}

/// Deletes, under `dir`, files named `<name>#<digits>` (a local store's staging files);
/// returns how many. A missing `dir` holds none.
fn remove_staging_files(dir: &std::path::Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            removed += remove_staging_files(&path)?;
        } else if is_staging_name(&entry.file_name().to_string_lossy()) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes `dir` and its subfolders if none of them holds a file (a missing `dir` is fine).
fn remove_empty_dirs(dir: &std::path::Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_empty_dirs(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        // A file is still there: not ours to remove.
        Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => Ok(()),
        other => other,
    }
}

fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unfinished_local_uploads_are_removed_and_nothing_else() {
        let tmp = std::env::temp_dir().join(format!("snapex-staging-{}", std::process::id()));
        let dir = tmp.join("e/public/t");
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["part-1.parquet", "part-2.parquet#3", "odd#name", "x#"] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        let dest = Destination::open(tmp.to_str().unwrap(), None).unwrap();
        dest.remove_unfinished_uploads(&Path::from("e"))
            .await
            .unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["odd#name", "part-1.parquet", "x#"]);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[tokio::test]
    async fn a_subfolder_reads_its_part_of_the_store_and_names_it_as_its_parent_does() {
        let tmp = std::env::temp_dir().join(format!("snapex-sub-{}", std::process::id()));
        let parent = Destination::open(tmp.to_str().unwrap(), None).unwrap();
        let dir = Path::parse("exp/_catalog").unwrap();
        parent
            .put(&dir.clone().join("t.json"), b"{}".to_vec())
            .await
            .unwrap();
        let sub = parent.subfolder(&Path::from("exp"));
        let path = sub.root.clone().join("_catalog").join("t.json");
        assert_eq!(sub.get(&path).await.unwrap(), b"{}".as_slice());
        assert_eq!(
            sub.folder_url(&sub.root),
            parent.folder_url(&Path::from("exp"))
        );
        let abs = std::fs::canonicalize(&tmp).unwrap();
        assert_eq!(sub.url, format!("file://{}/exp", abs.display()));
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn folder_urls_are_full_and_end_in_a_slash() {
        let s3 = Destination::open("s3://lake/some/prefix", Some("http://127.0.0.1:1")).unwrap();
        let dir = Path::parse("some/prefix/e/public/Order%20Items").unwrap();
        assert_eq!(
            s3.folder_url(&dir),
            "s3://lake/some/prefix/e/public/Order%20Items/"
        );

        let tmp = std::env::temp_dir().join(format!("snapex-url-{}", std::process::id()));
        let local = Destination::open(tmp.to_str().unwrap(), None).unwrap();
        let abs = std::fs::canonicalize(&tmp).unwrap();
        assert_eq!(
            local.folder_url(&Path::parse("e/s/t").unwrap()),
            format!("file://{}/e/s/t/", abs.display())
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
