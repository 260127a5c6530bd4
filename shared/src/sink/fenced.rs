//! A store that asks a [`Fence`] before every write: each PUT, each multipart upload when it
//! starts and again just before it completes (when the object appears), and each delete. An
//! export's writes go through it once its run holds the export's lease (see
//! `pipeline::lease`), so a run whose lease another run took over stops writing at its next
//! write. Reads pass straight through.
//!
//! What a check cannot cover is a write already sent when the lease is taken over: the window
//! is one request, and `pipeline::lease` says why that cannot touch a published export.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result, UploadPart,
};

/// Says whether this run may still write. An error is the reason it may not (or that the
/// store could not be asked); the write is not made.
pub trait Fence: Send + Sync + fmt::Debug + 'static {
    fn check(&self) -> BoxFuture<'_, Result<()>>;
}

/// `inner`, with every write checked by `fence` first.
#[derive(Debug)]
pub struct Fenced {
    inner: Arc<dyn ObjectStore>,
    fence: Arc<dyn Fence>,
}

impl Fenced {
    pub fn new(inner: Arc<dyn ObjectStore>, fence: Arc<dyn Fence>) -> Fenced {
        Fenced { inner, fence }
    }
}

impl fmt::Display for Fenced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fenced({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Fenced {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.fence.check().await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.fence.check().await?;
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(FencedUpload {
            upload,
            fence: self.fence.clone(),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        // Each delete is checked on its own: a stream may be long.
        let (inner, fence) = (self.inner.clone(), self.fence.clone());
        locations
            .and_then(move |path| {
                let (inner, fence) = (inner.clone(), fence.clone());
                async move {
                    fence.check().await?;
                    let one = futures::stream::once(async move { Ok(path) }).boxed();
                    inner
                        .delete_stream(one)
                        .try_collect::<Vec<Path>>()
                        .await?
                        .pop()
                        .ok_or_else(|| object_store::Error::Generic {
                            store: "Fenced",
                            source: "a delete returned no path".into(),
                        })
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.fence.check().await?;
        self.inner.copy_opts(from, to, options).await
    }
}

/// A multipart upload whose object appears only if the fence still allows writing when it
/// completes: parts are invisible until then.
#[derive(Debug)]
struct FencedUpload {
    upload: Box<dyn MultipartUpload>,
    fence: Arc<dyn Fence>,
}

#[async_trait]
impl MultipartUpload for FencedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        if let Err(refused) = self.fence.check().await {
            // The parts must not linger (S3 bills them; a local folder keeps a staging file).
            let _ = self.upload.abort().await;
            return Err(refused);
        }
        self.upload.complete().await
    }

    async fn abort(&mut self) -> Result<()> {
        self.upload.abort().await
    }
}
