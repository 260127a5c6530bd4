//! Failed chunks' records. A chunk that fails writes `<export>/_work/failed/<chunk>.json`
//! (a [`crate::work::FailureRecord`], see [`crate::pipeline::chunk_step`]) before it fails; the Map then
//! fails with [`MAP_FAILED`], which says nothing useful, so Cleanup reports the record of the
//! lowest failed chunk instead ([`crate::pipeline::first_failure`]).

/// The error a Distributed Map fails with when more children failed than it tolerates.
pub const MAP_FAILED: &str = "States.ExceedToleratedFailureThreshold";

/// Where chunk `chunk`'s failure record goes, relative to the destination's root.
pub fn failure_record_path(export_id: &str, chunk: usize) -> String {
    let layout = crate::layout::Layout::new(&object_store::path::Path::default(), export_id);
    layout.work_failed(chunk).to_string()
}
