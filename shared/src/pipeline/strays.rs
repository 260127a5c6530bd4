//! What is already under an export's folder: files of the shapes snapex writes (left by an
//! earlier attempt with the same export id, removed before publishing) and anything else
//! (not ours to delete: it stops the export). Apart from publishing because opening a
//! destination and resuming check the folder the same way.

use std::collections::HashSet;

use futures::TryStreamExt;
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
    let mut ours = Vec::new();
    let mut foreign = Vec::new();
    let mut listed = dest.list_each(layout.export_root());
    while let Some(path) = listed.try_next().await? {
        match classify(layout, &path) {
            Some(true) => ours.push(path),
            Some(false) => foreign.push(path),
            None => {}
        }
    }
    Ok((ours, foreign))
}

/// Whether an object under the export's folder has a shape this tool writes (`Some(true)`),
/// not (`Some(false)`), or is a record under `_work/` (`None`: a serverless run's records
/// are kept, and are not in the way of a new attempt).
fn classify(layout: &Layout, path: &Path) -> Option<bool> {
    let root = layout.export_root().as_ref();
    let rel = path
        .as_ref()
        .strip_prefix(root)
        .unwrap_or(path.as_ref())
        .trim_start_matches('/');
    if Layout::is_work_file(rel) {
        return None;
    }
    let parts: Vec<&str> = rel.split('/').collect();
    // `<schema>/<table>/part-*.parquet`, or one partition folder `<key>=<value>/` deeper.
    let file = parts.last().copied().unwrap_or_default();
    let is_piece = (parts.len() == 3 || (parts.len() == 4 && parts[2].contains('=')))
        && file.starts_with("part-")
        && file.ends_with(".parquet");
    Some(
        is_piece || Layout::is_catalog_file(rel) || Layout::is_manifest_shard(rel) || rel == REPORT,
    )
}

/// The paths a run wrote, each held as a 128-bit fingerprint rather than as text: an export of
/// a million tables writes some three million files, whose paths would be hundreds of
/// megabytes; fingerprints are 16 bytes each. Two paths share a fingerprint with a
/// probability near 2^-128 per pair (about 10^-26 for three million paths), so a stray is
/// never taken for a written file in practice. Written here because the standard library's
/// hasher gives 64 bits: two of its hashes of the path, tagged apart, make the 128.
#[derive(Debug, Default)]
pub(super) struct Written(HashSet<u128>);

impl Written {
    /// Adds `path`; false if it was there already.
    pub(super) fn insert(&mut self, path: &str) -> bool {
        self.0.insert(fingerprint(path))
    }

    fn contains(&self, path: &str) -> bool {
        self.0.contains(&fingerprint(path))
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<S: AsRef<str>> Extend<S> for Written {
    fn extend<I: IntoIterator<Item = S>>(&mut self, paths: I) {
        for p in paths {
            self.insert(p.as_ref());
        }
    }
}

fn fingerprint(path: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let half = |tag: u8| {
        let mut h = std::hash::DefaultHasher::new();
        tag.hash(&mut h);
        path.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
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
/// folder holds exactly the manifest's files and this run's catalog, and checks that every
/// file written is there. Anything else found there stops the export unpublished.
///
/// One listing does both, as it streams (the folder is never held): at a million tables the
/// folder holds some three million objects, a listing of 3,000 pages requested one after
/// another, minutes on S3. Nothing else writes under the folder meanwhile: every writer of
/// this export writes under its lease, and this run holds it.
pub(super) async fn remove_strays(
    dest: &Destination,
    layout: &Layout,
    export_id: &str,
    written: &Written,
) -> Result<()> {
    let mut found = 0usize;
    let mut listed = dest.list_each(layout.export_root());
    while let Some(path) = listed.try_next().await? {
        match classify(layout, &path) {
            Some(true) if written.contains(path.as_ref()) => found += 1,
            Some(true) => {
                tracing::info!(
                    "removing {path}: left by an earlier attempt, not part of this export"
                );
                dest.delete(&path).await?;
            }
            Some(false) => return Err(foreign_objects_error(export_id, &[path])),
            None => {}
        }
    }
    // Uploads a killed process left unfinished in a local folder (invisible to listings).
    dest.remove_unfinished_uploads(layout.export_root()).await?;
    // Nothing but what this run wrote is left, and all of it must be there.
    if found != written.len() {
        return Err(Error::Verify(format!(
            "{} of the {} files this run wrote are not in the export's folder",
            written.len() - found,
            written.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_listing_removes_strays_and_finds_what_is_missing_or_foreign() {
        let tmp = std::env::temp_dir().join(format!("snapex-strays-{}", std::process::id()));
        let dest = Destination::open(tmp.to_str().unwrap(), None).unwrap();
        let layout = Layout::new(&dest.root, "e");
        let file = |rel: &str| {
            rel.split('/')
                .fold(layout.export_root().clone(), |p, part| p.join(part))
        };
        let put = async |rel: &str| dest.put(&file(rel), b"x".to_vec()).await.unwrap();
        let mut written = Written::default();
        for rel in ["public/a/part-1.parquet", "_catalog/a.table.json"] {
            put(rel).await;
            written.insert(file(rel).as_ref());
        }
        // An earlier attempt's piece and catalog file, and a serverless run's record.
        for rel in [
            "public/a/part-0.parquet",
            "_catalog/old.table.json",
            "_work/done/0.json",
        ] {
            put(rel).await;
        }
        remove_strays(&dest, &layout, "e", &written).await.unwrap();
        let mut left: Vec<String> = dest
            .list(layout.export_root())
            .await
            .unwrap()
            .iter()
            .map(|p| p.as_ref().to_string())
            .collect();
        left.sort();
        let root = layout.export_root().as_ref();
        assert_eq!(
            left,
            [
                format!("{root}/_catalog/a.table.json"),
                format!("{root}/_work/done/0.json"),
                format!("{root}/public/a/part-1.parquet"),
            ]
        );

        // A file written but gone.
        dest.delete(&file("public/a/part-1.parquet")).await.unwrap();
        let e = remove_strays(&dest, &layout, "e", &written)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 of the 2 files this run wrote are not"), "{e}");
        put("public/a/part-1.parquet").await;

        // Something snapex never writes: refused, and left alone.
        put("public/a/notes.txt").await;
        let e = remove_strays(&dest, &layout, "e", &written)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("snapex did not write"), "{e}");
        assert!(dest.exists(&file("public/a/notes.txt")).await.unwrap());
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn written_paths_are_told_apart_by_their_fingerprints() {
        let mut written = Written::default();
        let paths: Vec<String> = (0..200_000)
            .map(|i| format!("lake/e/public/t_{i}/part-00000.parquet"))
            .collect();
        written.extend(&paths);
        written.extend(&paths[..10]);
        assert_eq!(
            written.len(),
            paths.len(),
            "a path written twice counts once"
        );
        assert!(paths.iter().all(|p| written.contains(p)));
        assert!(!written.contains("lake/e/public/t_200000/part-00000.parquet"));
        assert!(!written.contains("lake/e/public/t_1/part-00000.parquet "));
        assert!(!written.contains(""));
    }
}
