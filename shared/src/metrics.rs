//! The serverless pipeline's metrics: their namespace and names (which `template.yaml`'s
//! dashboard and alarms refer to), and the CloudWatch Embedded Metric Format (EMF) lines the
//! functions print to stdout, from which CloudWatch Logs extracts the metrics.
//!
//! Metrics carry no dimension at all, and an `Engine` dimension where the engine is known:
//! never the export id or a table, whose every value would be a new metric. Those go into the
//! same line as plain members (`export_id`, `chunk`, `table`), which CloudWatch Logs Insights
//! can filter on but which create no metric.
//!
//! Rendering is pure: the caller passes the time and prints the line.

use serde_json::{Map, Value, json};

use crate::work::ChunkRecord;

/// The CloudWatch namespace of every metric here.
pub const NAMESPACE: &str = "Snapex";

/// Rows one chunk wrote (Count).
pub const CHUNK_ROWS: &str = "ChunkRows";
/// Bytes of Parquet one chunk wrote (Bytes).
pub const CHUNK_BYTES: &str = "ChunkBytes";
/// Seconds one chunk spent reading and writing its pieces (Seconds).
pub const CHUNK_SECONDS: &str = "ChunkSeconds";
/// Attempts of one chunk that failed with a retryable error before the one that wrote its
/// files (Count).
pub const CHUNK_RETRIES: &str = "ChunkRetries";
/// Exports whose temporary instance was restored: 1 per export (Count).
pub const EXPORTS_STARTED: &str = "ExportsStarted";
/// Exports published and registered: 1 per export (Count).
pub const EXPORTS_SUCCEEDED: &str = "ExportsSucceeded";
/// Exports that failed, counted by Cleanup: 1 per export (Count).
pub const EXPORTS_FAILED: &str = "ExportsFailed";
/// Rows of a published export (Count).
pub const EXPORT_ROWS: &str = "ExportRows";
/// Bytes of Parquet of a published export (Bytes).
pub const EXPORT_BYTES: &str = "ExportBytes";
/// Temporary DB instances (and clusters left without their instance) that exist (Count).
pub const TEMPORARY_INSTANCES_ALIVE: &str = "TemporaryInstancesAlive";
/// Age of the oldest of them in minutes, 0 when there is none (unit None: CloudWatch has no
/// minutes).
pub const OLDEST_TEMPORARY_INSTANCE_AGE_MINUTES: &str = "OldestTemporaryInstanceAgeMinutes";

/// Every metric the functions emit.
pub const ALL: &[&str] = &[
    CHUNK_ROWS,
    CHUNK_BYTES,
    CHUNK_SECONDS,
    CHUNK_RETRIES,
    EXPORTS_STARTED,
    EXPORTS_SUCCEEDED,
    EXPORTS_FAILED,
    EXPORT_ROWS,
    EXPORT_BYTES,
    TEMPORARY_INSTANCES_ALIVE,
    OLDEST_TEMPORARY_INSTANCE_AGE_MINUTES,
];

/// The one dimension a metric may have.
pub const ENGINE: &str = "Engine";

/// CloudWatch units (the names `MetricDatum` accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Seconds,
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Seconds => "Seconds",
            Unit::None => "None",
        }
    }
}

/// The unit of the metric `name`, one per name so that its statistics add up; `None` for a
/// name not in [`ALL`].
pub fn unit(name: &str) -> Option<Unit> {
    Some(match name {
        CHUNK_ROWS
        | CHUNK_RETRIES
        | EXPORTS_STARTED
        | EXPORTS_SUCCEEDED
        | EXPORTS_FAILED
        | EXPORT_ROWS
        | TEMPORARY_INSTANCES_ALIVE => Unit::Count,
        CHUNK_BYTES | EXPORT_BYTES => Unit::Bytes,
        CHUNK_SECONDS => Unit::Seconds,
        OLDEST_TEMPORARY_INSTANCE_AGE_MINUTES => Unit::None,
        _ => return None,
    })
}

/// EMF's limit on a dimension's value.
const DIMENSION_VALUE_MAX: usize = 1024;

/// One EMF document: values of metrics in [`NAMESPACE`], their dimensions, and members that
/// are only logged. Built with [`Line::new`] and the methods after it, printed with
/// [`Line::render`].
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    timestamp_ms: i64,
    dimensions: Vec<(String, String)>,
    metrics: Vec<(&'static str, f64)>,
    properties: Map<String, Value>,
}

impl Line {
    /// A line for the time `timestamp_ms` (milliseconds since the Unix epoch).
    pub fn new(timestamp_ms: i64) -> Line {
        Line {
            timestamp_ms,
            dimensions: Vec::new(),
            metrics: Vec::new(),
            properties: Map::new(),
        }
    }

    /// Adds the dimension `key=value`: each metric is then published twice, without dimension
    /// and with all the line's dimensions.
    pub fn dimension(mut self, key: &str, value: &str) -> Line {
        let value: String = value.chars().take(DIMENSION_VALUE_MAX).collect();
        self.dimensions.retain(|(k, _)| k != key);
        self.dimensions.push((key.to_string(), value));
        self
    }

    /// Adds the dimension `key` when there is a value for it.
    pub fn dimension_if(self, key: &str, value: Option<&str>) -> Line {
        match value {
            Some(v) if !v.is_empty() => self.dimension(key, v),
            _ => self,
        }
    }

    /// Adds a value of the metric `name` (one of [`ALL`], whose [`unit`] it gets). A value
    /// that is not a finite number is left out: EMF would reject the whole line.
    pub fn metric(mut self, name: &'static str, value: f64) -> Line {
        if value.is_finite() {
            self.metrics.retain(|(n, _)| *n != name);
            self.metrics.push((name, value));
        }
        self
    }

    /// Adds a member that is logged but is no metric and no dimension (an export id, a table).
    pub fn property(mut self, key: &str, value: impl Into<Value>) -> Line {
        self.properties.insert(key.to_string(), value.into());
        self
    }

    /// The names of the metrics this line carries, in the order they were added.
    pub fn metric_names(&self) -> Vec<&'static str> {
        self.metrics.iter().map(|(n, _)| *n).collect()
    }

    /// The EMF document as one line of JSON (no newline). Metric values and dimension values
    /// are members of the root, as EMF requires; so are the properties, unless one has the
    /// name of a metric, a dimension or `_aws`, which win.
    pub fn render(&self) -> String {
        let mut root = self.properties.clone();
        for (k, v) in &self.dimensions {
            root.insert(k.clone(), Value::String(v.clone()));
        }
        let mut definitions = Vec::with_capacity(self.metrics.len());
        for &(name, value) in &self.metrics {
            root.insert(name.to_string(), number(value));
            let unit = unit(name).unwrap_or(Unit::None);
            definitions.push(json!({"Name": name, "Unit": unit.as_str()}));
        }
        let mut sets: Vec<Vec<&str>> = vec![Vec::new()];
        if !self.dimensions.is_empty() {
            sets.push(self.dimensions.iter().map(|(k, _)| k.as_str()).collect());
        }
        root.insert(
            "_aws".to_string(),
            json!({
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": sets,
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(root).to_string()
    }
}

/// `value` as JSON: a whole number without a fraction (counts and bytes read as such in the
/// log), anything else as it is.
fn number(value: f64) -> Value {
    /// Integers up to this are exact in an f64.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if value.fract() == 0.0 && value.abs() <= EXACT {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// ExportChunk, once a chunk's record is written: its rows, bytes, seconds (the pieces'
/// own, added up) and retries. `table` names the chunk's tables (`schema.name`, several
/// separated by `, ` when small pieces of several tables share the chunk).
pub fn chunk_exported(
    export_id: &str,
    engine: Option<&str>,
    record: &ChunkRecord,
    timestamp_ms: i64,
) -> Line {
    let files = record.results.iter().filter_map(|r| r.file.as_ref());
    let rows: u64 = files.clone().map(|f| f.rows).sum();
    let bytes: u64 = files.clone().map(|f| f.bytes).sum();
    let seconds: f64 = record.results.iter().map(|r| r.seconds).sum();
    let mut tables: Vec<String> = Vec::new();
    for r in &record.results {
        let name = r.piece.table.to_string();
        if !tables.contains(&name) {
            tables.push(name);
        }
    }
    Line::new(timestamp_ms)
        .dimension_if(ENGINE, engine)
        .property("export_id", export_id)
        .property("chunk", record.chunk)
        .property("table", tables.join(", "))
        .property("files", files.count())
        .metric(CHUNK_ROWS, rows as f64)
        .metric(CHUNK_BYTES, bytes as f64)
        .metric(CHUNK_SECONDS, seconds)
        .metric(CHUNK_RETRIES, f64::from(record.retries))
}

/// Restore, once the temporary instance is being made: one export started.
pub fn export_started(export_id: &str, engine: Option<&str>, timestamp_ms: i64) -> Line {
    Line::new(timestamp_ms)
        .dimension_if(ENGINE, engine)
        .property("export_id", export_id)
        .metric(EXPORTS_STARTED, 1.0)
}

/// Finalize, once the export is published and registered: one export succeeded, with its
/// rows and bytes.
pub fn export_succeeded(
    export_id: &str,
    engine: Option<&str>,
    rows: u64,
    bytes: u64,
    timestamp_ms: i64,
) -> Line {
    Line::new(timestamp_ms)
        .dimension_if(ENGINE, engine)
        .property("export_id", export_id)
        .metric(EXPORTS_SUCCEEDED, 1.0)
        .metric(EXPORT_ROWS, rows as f64)
        .metric(EXPORT_BYTES, bytes as f64)
}

/// Cleanup, when the execution came to it with an error: one export failed, with the error
/// it fails with.
pub fn export_failed(
    export_id: &str,
    engine: Option<&str>,
    error: &str,
    timestamp_ms: i64,
) -> Line {
    Line::new(timestamp_ms)
        .dimension_if(ENGINE, engine)
        .property("export_id", export_id)
        .property("error", error)
        .metric(EXPORTS_FAILED, 1.0)
}

/// The scheduled watch: how many temporary instances exist and the oldest one's age
/// (`oldest` names it, for the log).
pub fn temporary_instances(
    alive: usize,
    oldest_age_minutes: u64,
    oldest: Option<&str>,
    timestamp_ms: i64,
) -> Line {
    let line = Line::new(timestamp_ms)
        .metric(TEMPORARY_INSTANCES_ALIVE, alive as f64)
        .metric(
            OLDEST_TEMPORARY_INSTANCE_AGE_MINUTES,
            oldest_age_minutes as f64,
        );
    match oldest {
        Some(o) => line.property("oldest", o),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Piece, TableName};
    use crate::sink::FileWritten;
    use crate::work::PieceResult;

    const T: i64 = 1_764_600_000_123;

    fn parse(line: &str) -> Value {
        assert!(!line.contains('\n'), "one line: {line}");
        serde_json::from_str(line).unwrap()
    }

    /// The one MetricDirective, checked against the EMF specification's rules.
    fn directive(doc: &Value) -> &Value {
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], json!(T));
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let d = &directives[0];
        assert_eq!(d["Namespace"], NAMESPACE);
        let sets = d["Dimensions"].as_array().unwrap();
        assert!(!sets.is_empty());
        for set in sets {
            for key in set.as_array().unwrap() {
                let key = key.as_str().unwrap();
                assert!(doc[key].is_string(), "dimension {key} has a string value");
            }
        }
        for m in d["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(ALL.contains(&name), "{name}");
            assert_eq!(m["Unit"], unit(name).unwrap().as_str());
            assert!(doc[name].is_number(), "metric {name} has a number");
        }
        d
    }

    fn piece(schema: &str, table: &str) -> Piece {
        Piece {
            table: TableName::new(schema, table),
            range: None,
            partition: None,
            hive: None,
        }
    }

    fn result(table: &str, file: Option<(u64, u64)>, seconds: f64) -> PieceResult {
        PieceResult {
            piece: piece("public", table),
            file: file.map(|(rows, bytes)| FileWritten {
                path: format!("x/{table}.parquet"),
                rows,
                bytes,
            }),
            lossy: Default::default(),
            seconds,
        }
    }

    #[test]
    fn every_metric_has_one_unit() {
        for name in ALL {
            assert!(unit(name).is_some(), "{name}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        }
        let mut names = ALL.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "no name twice");
        assert_eq!(unit("ChunkRow"), None);
    }

    #[test]
    fn a_chunk_line_carries_its_numbers_and_ids_but_no_high_cardinality_dimension() {
        let record = ChunkRecord {
            chunk: 7,
            results: vec![
                result("orders", Some((1000, 50_000)), 1.5),
                result("orders", Some((24, 3_000)), 0.25),
                result("empty", None, 0.125),
            ],
            retries: 2,
            reused: false,
        };
        let doc = parse(
            &chunk_exported("orders-db-20261201T031000Z", Some("postgres"), &record, T).render(),
        );
        let d = directive(&doc);
        assert_eq!(d["Dimensions"], json!([[], ["Engine"]]));
        let names: Vec<&str> = d["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [CHUNK_ROWS, CHUNK_BYTES, CHUNK_SECONDS, CHUNK_RETRIES]
        );
        assert_eq!(doc[CHUNK_ROWS], json!(1024));
        assert_eq!(doc[CHUNK_BYTES], json!(53_000));
        assert_eq!(doc[CHUNK_SECONDS], json!(1.875));
        assert_eq!(doc[CHUNK_RETRIES], json!(2));
        assert_eq!(doc["Engine"], "postgres");
        assert_eq!(doc["export_id"], "orders-db-20261201T031000Z");
        assert_eq!(doc["chunk"], 7);
        assert_eq!(doc["table"], "public.orders, public.empty");
        assert_eq!(doc["files"], 2);
    }

    #[test]
    fn without_an_engine_there_is_only_the_dimensionless_set() {
        let doc = parse(&export_failed("e1", None, "RestoreDeadline", T).render());
        let d = directive(&doc);
        assert_eq!(d["Dimensions"], json!([[]]));
        assert_eq!(
            d["Metrics"],
            json!([{"Name": "ExportsFailed", "Unit": "Count"}])
        );
        assert_eq!(doc[EXPORTS_FAILED], json!(1));
        assert_eq!(doc["error"], "RestoreDeadline");
        assert!(doc.get("Engine").is_none());
        // An empty engine is no engine.
        let doc = parse(&export_started("e1", Some(""), T).render());
        assert_eq!(directive(&doc)["Dimensions"], json!([[]]));
    }

    #[test]
    fn export_lines() {
        let doc = parse(&export_started("e1", Some("mysql"), T).render());
        directive(&doc);
        assert_eq!(doc[EXPORTS_STARTED], json!(1));
        assert_eq!(doc["Engine"], "mysql");
        let doc = parse(&export_succeeded("e1", Some("mysql"), 10, 2048, T).render());
        let d = directive(&doc);
        assert_eq!(
            d["Metrics"],
            json!([
                {"Name": "ExportsSucceeded", "Unit": "Count"},
                {"Name": "ExportRows", "Unit": "Count"},
                {"Name": "ExportBytes", "Unit": "Bytes"},
            ])
        );
        assert_eq!(
            (&doc[EXPORT_ROWS], &doc[EXPORT_BYTES]),
            (&json!(10), &json!(2048))
        );
    }

    #[test]
    fn temporary_instances_line() {
        let doc =
            parse(&temporary_instances(2, 390, Some("snapex-orders-db-1234abcd"), T).render());
        let d = directive(&doc);
        assert_eq!(d["Dimensions"], json!([[]]));
        assert_eq!(doc[TEMPORARY_INSTANCES_ALIVE], json!(2));
        assert_eq!(doc[OLDEST_TEMPORARY_INSTANCE_AGE_MINUTES], json!(390));
        assert_eq!(doc["oldest"], "snapex-orders-db-1234abcd");
        // None alive: zeros, so that the alarm sees data.
        let doc = parse(&temporary_instances(0, 0, None, T).render());
        assert_eq!(doc[TEMPORARY_INSTANCES_ALIVE], json!(0));
        assert!(doc.get("oldest").is_none());
    }

    #[test]
    fn reserved_members_win_over_properties_and_bad_values_are_left_out() {
        let line = Line::new(T)
            .property("_aws", "mine")
            .property(CHUNK_ROWS, "not a number")
            .property("Engine", 3)
            .dimension(ENGINE, &"x".repeat(2000))
            .dimension(ENGINE, "postgres")
            .metric(CHUNK_ROWS, 5.0)
            .metric(CHUNK_SECONDS, f64::NAN)
            .metric(CHUNK_BYTES, f64::INFINITY);
        assert_eq!(line.metric_names(), [CHUNK_ROWS]);
        let doc = parse(&line.render());
        let d = directive(&doc);
        assert_eq!(d["Dimensions"], json!([[], ["Engine"]]));
        assert_eq!(doc["Engine"], "postgres");
        assert_eq!(doc[CHUNK_ROWS], json!(5));
        assert_eq!(number(0.5), json!(0.5));
        assert_eq!(number(1e300), json!(1e300));
        assert!(doc.get(CHUNK_SECONDS).is_none());
        let long = parse(&Line::new(T).dimension(ENGINE, &"é".repeat(2000)).render());
        assert_eq!(
            long["Engine"].as_str().unwrap().chars().count(),
            DIMENSION_VALUE_MAX
        );
    }
}
