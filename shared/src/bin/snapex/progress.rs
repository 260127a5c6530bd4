//! What the command line shows while and after it runs: the progress bar (chunks, tables, rows,
//! bytes; the export's id, and what an interruption prints) and the run report's summary.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{HumanBytes, HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use snapex::model::{Chunk, Piece, TableName};
use snapex::pipeline::Progress;
use snapex::sink::FileWritten;

use crate::interrupt;

/// The run report's slowest tables (report.json and its shards list them all), and what the
/// run retried or kept.
pub(crate) fn print_report(report: &snapex::pipeline::report::RunReport) {
    if report.chunks_kept > 0 || report.retries > 0 {
        say!(
            "{} kept from the interrupted run, {} read again after a retryable failure",
            counted(report.chunks_kept, "chunk"),
            counted(report.retries, "chunk attempt")
        );
    }
    for t in &report.slowest {
        let lossy: u64 = t.lossy.values().flat_map(|m| m.values()).sum();
        say!(
            "  {}: {}, {}, {} in {:.1}s{}",
            t.table,
            counted(t.rows, "row"),
            counted(t.files, "file"),
            HumanBytes(t.bytes),
            t.seconds,
            if lossy > 0 {
                format!(", {lossy} lossy values")
            } else {
                String::new()
            }
        );
    }
    let more = report
        .totals
        .tables
        .saturating_sub(report.slowest.len() as u64);
    if more > 0 {
        say!("  ... and {} more in report.json", counted(more, "table"));
    }
}

/// `1 table`, `5,000 tables`.
pub(crate) fn counted(n: u64, noun: &str) -> String {
    format!("{} {noun}{}", HumanCount(n), if n == 1 { "" } else { "s" })
}

/// The progress bar: chunks as its length; tables, rows and bytes in its message.
pub(crate) struct Bar {
    pub(crate) bar: ProgressBar,
    rows: AtomicU64,
    bytes: AtomicU64,
    tables_total: AtomicU64,
    tables_done: AtomicU64,
    pieces_left: Mutex<HashMap<TableName, usize>>,
    /// The export's id once known: a failed export names it for `--resume`.
    export_id: Mutex<Option<String>>,
    /// The plan is recorded: there is something for `--resume` to finish.
    recorded: AtomicBool,
    /// Asked to stop: the bar says so until it is cleared.
    pub(crate) stopping: AtomicBool,
}

impl Bar {
    pub(crate) fn new(hidden: bool) -> Bar {
        let bar = if hidden {
            ProgressBar::hidden()
        } else {
            ProgressBar::new_spinner()
        };
        if !hidden {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Bar {
            bar,
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            tables_total: AtomicU64::new(0),
            tables_done: AtomicU64::new(0),
            pieces_left: Mutex::new(HashMap::new()),
            export_id: Mutex::new(None),
            recorded: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        }
    }

    /// The export's id if a run with `--resume` can finish it (its plan is recorded).
    pub(crate) fn resumable(&self) -> Option<String> {
        if !self.recorded.load(Ordering::Relaxed) {
            return None;
        }
        self.export_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The line an interrupted export ends with: its id, how far it got, and the command
    /// that finishes it when there is something to finish.
    pub(crate) fn interrupted(&self, chunks_done: usize, chunks: usize) -> String {
        let Some(id) = self.resumable() else {
            let named = self
                .export_id
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map_or(String::new(), |id| format!(" export {id}"));
            return format!(
                "interrupted{named} before the export's plan was recorded: there is nothing to \
                 resume (run the same command again to start over)"
            );
        };
        let (command, redacted) = interrupt::resume_command(std::env::args_os(), &id);
        format!(
            "interrupted export {id} with {} of {} written; nothing was published. To finish \
             it, run{}: {command}",
            HumanCount(chunks_done as u64),
            counted(chunks as u64, "chunk"),
            if redacted {
                " (with the source's password in place of ****)"
            } else {
                ""
            }
        )
    }

    pub(crate) fn refresh(&self) {
        if self.stopping.load(Ordering::Relaxed) {
            self.bar.set_message(
                "stopping: abandoning the chunks being read (Ctrl-C again exits at once)",
            );
            return;
        }
        self.bar.set_message(format!(
            "tables {}/{} · {} rows · {} decoded",
            self.tables_done.load(Ordering::Relaxed),
            self.tables_total.load(Ordering::Relaxed),
            HumanCount(self.rows.load(Ordering::Relaxed)),
            HumanBytes(self.bytes.load(Ordering::Relaxed)),
        ));
    }
}

impl Progress for Bar {
    fn phase(&self, what: &str) {
        self.bar.set_message(what.to_string());
    }

    fn export_id(&self, id: &str) {
        *self.export_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.to_string());
        // Above the bar, which keeps drawing below it.
        self.bar.suspend(|| eprintln!("snapex: export {id}"));
    }

    fn recorded(&self) {
        self.recorded.store(true, Ordering::Relaxed);
    }

    fn planned(&self, tables: usize, chunks: &[Chunk]) {
        let mut left = self.pieces_left.lock().unwrap_or_else(|p| p.into_inner());
        for p in chunks.iter().flat_map(|c| &c.pieces) {
            *left.entry(p.table.clone()).or_default() += 1;
        }
        self.tables_total.store(tables as u64, Ordering::Relaxed);
        self.bar.set_length(chunks.len() as u64);
        self.bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} chunks · {msg} (eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.refresh();
    }

    fn rows(&self, rows: u64, bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.refresh();
    }

    fn piece_done(&self, piece: &Piece, _file: Option<&FileWritten>) {
        let mut left = self.pieces_left.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = left.get_mut(&piece.table) {
            *n -= 1;
            if *n == 0 {
                // Forgotten once done: a million tables' names are not kept to the end.
                left.remove(&piece.table);
                self.tables_done.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(left);
        self.refresh();
    }

    fn chunk_done(&self, _chunk: &Chunk) {
        self.bar.inc(1);
    }
}
