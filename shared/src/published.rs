//! Reading a published export back: its manifest, and the manifest's tables a shard at a
//! time, so a reader of an export of millions of tables holds one shard's worth, not all.
//! Format 1 manifests (every table inline, no shards) read the same way.

use futures::{Stream, StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use object_store::path::Path;

use crate::layout::{Layout, MANIFEST_DIR, manifest_shard_file};
use crate::manifest::{Manifest, ManifestShard, SHARD_FORMAT, shard_path};
use crate::sink::Destination;
use crate::work::from_json;

/// Shards read ahead of the one being consumed.
const SHARDS_AHEAD: usize = 2;

/// The export's `manifest.json`, checked to be a format this version reads.
pub async fn read_manifest(dest: &Destination, layout: &Layout) -> Result<Manifest> {
    read_manifest_under(dest, layout.export_root()).await
}

/// [`read_manifest`] of the export whose folder is `root` (for a reader given the export's
/// own folder, such as `snapex-glue`).
pub async fn read_manifest_under(dest: &Destination, root: &Path) -> Result<Manifest> {
    let path = root.clone().join(crate::layout::MANIFEST);
    let m: Manifest = from_json("manifest.json", &dest.get(&path).await?)?;
    if !m.is_known_format() {
        return Err(Error::Internal(format!(
            "{path}: manifest format {:?} is newer than this version of snapex reads",
            m.format
        )));
    }
    Ok(m)
}

/// Every shard of `manifest`, in order: the inline first one (taken out of `manifest`,
/// whose `tables` and `skipped` are left empty), then each shard file, checked to be the
/// one its entry names (its number, export and counts).
pub fn shards<'a>(
    dest: &'a Destination,
    layout: &'a Layout,
    manifest: &mut Manifest,
) -> impl Stream<Item = Result<ManifestShard>> + 'a {
    shards_under(dest, layout.export_root().clone(), manifest)
}

/// [`shards`] of the export whose folder is `root` (for a reader given the export's own
/// folder, such as `snapex-glue`).
pub fn shards_under<'a>(
    dest: &'a Destination,
    root: Path,
    manifest: &mut Manifest,
) -> impl Stream<Item = Result<ManifestShard>> + 'a {
    let first = ManifestShard {
        format: SHARD_FORMAT.to_string(),
        export_id: manifest.export_id.clone(),
        shard: 1,
        tables: std::mem::take(&mut manifest.tables),
        skipped: std::mem::take(&mut manifest.skipped),
    };
    let export_id = manifest.export_id.clone();
    let refs: Vec<_> = manifest.shards.iter().cloned().enumerate().collect();
    let rest = futures::stream::iter(refs)
        .map(move |(i, r)| {
            let export_id = export_id.clone();
            let root = root.clone();
            async move {
                let n = i + 2;
                if r.path != shard_path(n) {
                    return Err(Error::Internal(format!(
                        "the manifest lists shard {n} as {:?}, not {:?}",
                        r.path,
                        shard_path(n)
                    )));
                }
                let path = root.clone().join(MANIFEST_DIR).join(manifest_shard_file(n));
                let shard: ManifestShard = from_json(&r.path, &dest.get(&path).await?)?;
                let counts = (shard.tables.len() as u64, shard.skipped.len() as u64);
                if shard.format != SHARD_FORMAT
                    || shard.shard != n
                    || shard.export_id != export_id
                    || counts != (r.tables, r.skipped)
                {
                    return Err(Error::Internal(format!(
                        "{path} is not the shard the manifest lists: shard {} of export {:?} \
                         with {} tables and {} left out, in format {:?}",
                        shard.shard, shard.export_id, counts.0, counts.1, shard.format
                    )));
                }
                Ok(shard)
            }
        })
        .buffered(SHARDS_AHEAD);
    futures::stream::once(async move { Ok(first) }).chain(rest)
}

/// The whole manifest, every shard folded back into `tables` and `skipped`: for small exports
/// and tests, where holding every table is fine.
pub async fn read_whole_manifest(dest: &Destination, layout: &Layout) -> Result<Manifest> {
    let mut m = read_manifest(dest, layout).await?;
    let all: Vec<ManifestShard> = shards(dest, layout, &mut m).try_collect().await?;
    for s in all {
        m.tables.extend(s.tables);
        m.skipped.extend(s.skipped);
    }
    m.shards.clear();
    Ok(m)
}
