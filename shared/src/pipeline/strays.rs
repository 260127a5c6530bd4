//! What is already under an export's folder: files of the shapes snapex writes (left by an
//! earlier attempt with the same export id, removed before publishing) and anything else
//! (not ours to delete: it stops the export). Apart from publishing because opening a
//! destination and resuming check the folder the same way.

use std::collections::HashSet;

use object_store::path::Path;

use crate::error::{Error, Result};
use crate::layout::{Layout, REPORT};
use crate::sink::Destination;

/// Objects already under the export's folder, sorted into files of the shapes this tool writes
/// (`<schema>/<table>/[<key>=<value>/]part-*.parquet`, the catalog files and the manifest's
/// and run report's shards, left by an earlier failed attempt with the same export id) and
/// anything else, which is not ours to delete.
pub(super) async fn existing_objects(
    dest: &Destination,
    layout: &Layout,
) -> Result<(Vec<Path>, Vec<Path>)> {
    let root = layout.export_root().as_ref().to_string();
    let mut ours = Vec::new();
    let mut foreign = Vec::new();
    for path in dest.list(layout.export_root()).await? {
        let rel = path
            .as_ref()
            .strip_prefix(&root)
            .unwrap_or(path.as_ref())
            .trim_start_matches('/');
        if Layout::is_work_file(rel) {
            // A serverless run's records: kept, and not in the way of a new attempt.
            continue;
        }
        let parts: Vec<&str> = rel.split('/').collect();
        // `<schema>/<table>/part-*.parquet`, or one partition folder `<key>=<value>/` deeper.
        let file = parts.last().copied().unwrap_or_default();
        let is_piece = (parts.len() == 3 || (parts.len() == 4 && parts[2].contains('=')))
            && file.starts_with("part-")
            && file.ends_with(".parquet");
        if is_piece
            || Layout::is_catalog_file(rel)
            || Layout::is_manifest_shard(rel)
            || rel == REPORT
        {
            ours.push(path)
        } else {
            foreign.push(path)
        }
    }
    Ok((ours, foreign))
}

pub(super) fn foreign_objects_error(export_id: &str, foreign: &[Path]) -> Error {
    Error::InvalidInput(format!(
        "export folder {export_id:?} holds {} object(s) snapex did not write (first: {}): \
         choose another --export-id or remove them",
        foreign.len(),
        foreign[0]
    ))
}

/// Deletes piece and catalog files under the export's folder that this run did not write
/// (`written`; left by an earlier, failed attempt with the same export id), so the published
/// folder holds exactly the manifest's files and this run's catalog. Anything else found there
/// stops the export unpublished.
pub(super) async fn remove_strays(
    dest: &Destination,
    layout: &Layout,
    export_id: &str,
    written: &HashSet<String>,
) -> Result<()> {
    let (ours, foreign) = existing_objects(dest, layout).await?;
    if !foreign.is_empty() {
        return Err(foreign_objects_error(export_id, &foreign));
    }
    for path in ours.iter().filter(|p| !written.contains(p.as_ref())) {
        tracing::info!("removing {path}: left by an earlier attempt, not part of this export");
        dest.delete(path).await?;
    }
    // Uploads a killed process left unfinished in a local folder (invisible to listings).
    dest.remove_unfinished_uploads(layout.export_root()).await?;
    // Nothing but what this run wrote may be published.
    let (ours, foreign) = existing_objects(dest, layout).await?;
    if !foreign.is_empty() {
        return Err(foreign_objects_error(export_id, &foreign));
    }
    if let Some(stray) = ours.iter().find(|p| !written.contains(p.as_ref())) {
        return Err(Error::Verify(format!(
            "{stray} is under the export's folder but is not part of it"
        )));
    }
    // A set, not a scan of `ours` per file: an export of a million tables writes millions.
    let found: HashSet<&str> = ours.iter().map(|p| p.as_ref()).collect();
    if let Some(missing) = written.iter().find(|w| !found.contains(w.as_str())) {
        return Err(Error::Verify(format!(
            "{missing} was written but is not in the export's folder"
        )));
    }
    Ok(())
}
