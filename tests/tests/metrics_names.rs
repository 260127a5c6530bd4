//! Every metric `template.yaml` charts or alarms on in the Snapex namespace is one the
//! functions emit, and every metric they emit is charted. A name nobody emits would make an
//! empty chart or an alarm that never fires (or, for the temporary-instance alarm, that fires
//! for no reason), silently.
//!
//! "Emitted" means: in the `_aws.CloudWatchMetrics` of the EMF lines that
//! `snapex::metrics`' emitters render, the functions the steps in `functions/aws/src/steps/`
//! call and print. The template is read as text (no YAML parser among our dependencies): its
//! dashboard bodies are JSON, and its alarms name their metric on `Namespace:` and
//! `MetricName:` lines.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use snapex::metrics::{self, ALL, NAMESPACE};
use snapex::work::ChunkRecord;

fn repo_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A metric a template refers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    namespace: String,
    name: String,
    /// The dashboard widget or alarm that refers to it.
    place: String,
}

/// The JSON of every `DashboardBody: !Sub |` block, with each `${...}` replaced by `0` (a
/// number where a parameter stands alone, a string's content inside quotes).
fn dashboard_bodies(template: &str) -> Vec<Value> {
    let lines: Vec<&str> = template.lines().collect();
    let mut bodies = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if !trimmed.starts_with("DashboardBody:") {
            continue;
        }
        let indent = line.len() - trimmed.len();
        assert!(
            matches!(
                trimmed.trim_end(),
                "DashboardBody: !Sub |" | "DashboardBody: !Sub |-"
            ),
            "line {}: write the dashboard body as `DashboardBody: !Sub |` and JSON, or teach \
             this test the new form: {trimmed}",
            i + 1
        );
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .copied()
            .collect();
        let text = substitute(&block.join("\n"));
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "the dashboard body after line {} is not JSON: {e}\n{text}",
                i + 1
            )
        });
        bodies.push(body);
    }
    bodies
}

fn substitute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .unwrap_or_else(|| panic!("unclosed ${{ in the dashboard body"));
        out.push('0');
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// The metrics a dashboard's widgets chart: each row of a widget's `metrics` is
/// `[namespace, name, dimension, value, ..., {options}]`, where "." repeats the row above.
fn dashboard_metrics(body: &Value, out: &mut Vec<Reference>) {
    let widgets = body["widgets"].as_array().expect("a dashboard has widgets");
    for w in widgets {
        let title = w["properties"]["title"].as_str().unwrap_or("(untitled)");
        let Some(rows) = w["properties"]["metrics"].as_array() else {
            continue;
        };
        let mut previous: Vec<String> = Vec::new();
        for row in rows {
            let row = row.as_array().expect("a metrics row is an array");
            let mut cells: Vec<String> = Vec::new();
            for (i, cell) in row.iter().enumerate() {
                match cell.as_str() {
                    Some(".") => cells.push(
                        previous
                            .get(i)
                            .unwrap_or_else(|| panic!("{title}: \".\" with no row above"))
                            .clone(),
                    ),
                    Some("...") => panic!("{title}: \"...\" is not understood by this test"),
                    Some(s) => cells.push(s.to_string()),
                    None => break, // the options object
                }
            }
            if cells.is_empty() {
                continue; // a math expression: [{"expression": ...}]
            }
            assert!(
                cells.len() >= 2,
                "{title}: a row without a metric name: {row:?}"
            );
            out.push(Reference {
                namespace: cells[0].clone(),
                name: cells[1].clone(),
                place: format!("dashboard widget {title:?}"),
            });
            previous = cells;
        }
    }
}

/// Metric names in a dashboard's Logs Insights queries: our metrics are the only
/// CamelCase fields in the lines (the other members are snake_case, and `SOURCE` is upper).
fn query_metrics(body: &Value, out: &mut Vec<Reference>) {
    for w in body["widgets"].as_array().into_iter().flatten() {
        let Some(query) = w["properties"]["query"].as_str() else {
            continue;
        };
        let title = w["properties"]["title"].as_str().unwrap_or("(untitled)");
        for word in query.split(|c: char| !c.is_ascii_alphanumeric()) {
            let camel = word.starts_with(|c: char| c.is_ascii_uppercase())
                && word.chars().any(|c| c.is_ascii_lowercase());
            if camel {
                out.push(Reference {
                    namespace: NAMESPACE.to_string(),
                    name: word.to_string(),
                    place: format!("query of dashboard widget {title:?}"),
                });
            }
        }
    }
}

/// The `(Namespace, MetricName)` of every `AWS::CloudWatch::Alarm` resource.
fn alarm_metrics(template: &str, out: &mut Vec<Reference>) -> usize {
    let mut alarms = 0;
    let mut in_resources = false;
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    for line in template.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            in_resources = line.trim_end() == "Resources:";
            continue;
        }
        if !in_resources {
            continue;
        }
        let is_resource = line.starts_with("  ")
            && !line.starts_with("   ")
            && !line.trim_start().starts_with('#')
            && line.trim_end().ends_with(':');
        if is_resource {
            let name = line.trim().trim_end_matches(':').to_string();
            blocks.push((name, Vec::new()));
        } else if let Some((_, body)) = blocks.last_mut() {
            body.push(line);
        }
    }
    let value = |line: &str, key: &str| {
        let v = line.trim().strip_prefix(key)?;
        Some(v.trim().trim_matches('"').trim_matches('\'').to_string())
    };
    for (name, body) in &blocks {
        let is_alarm = body
            .iter()
            .any(|l| value(l, "Type:").as_deref() == Some("AWS::CloudWatch::Alarm"));
        if !is_alarm {
            continue;
        }
        alarms += 1;
        let namespaces: BTreeSet<String> =
            body.iter().filter_map(|l| value(l, "Namespace:")).collect();
        let names: Vec<String> = body
            .iter()
            .filter_map(|l| value(l, "MetricName:"))
            .collect();
        assert_eq!(
            namespaces.len(),
            1,
            "alarm {name}: one literal Namespace expected (teach this test otherwise)"
        );
        assert!(!names.is_empty(), "alarm {name}: no MetricName");
        let namespace = namespaces.into_iter().next().unwrap();
        for metric in names {
            out.push(Reference {
                namespace: namespace.clone(),
                name: metric,
                place: format!("alarm {name}"),
            });
        }
    }
    alarms
}

/// Everything the template refers to; fails on a namespace that is neither ours nor AWS's
/// (a misspelt `Snapex` would otherwise hide its metrics from the check).
fn template_references() -> Vec<Reference> {
    let template = repo_file("template.yaml");
    let bodies = dashboard_bodies(&template);
    assert!(!bodies.is_empty(), "template.yaml has no dashboard");
    let mut refs = Vec::new();
    for body in &bodies {
        dashboard_metrics(body, &mut refs);
        query_metrics(body, &mut refs);
    }
    let alarms = alarm_metrics(&template, &mut refs);
    assert!(
        alarms >= 2,
        "template.yaml has {alarms} alarms, expected at least 2"
    );
    for r in &refs {
        assert!(
            r.namespace == NAMESPACE || r.namespace.starts_with("AWS/"),
            "{}: namespace {:?} is neither {NAMESPACE:?} nor AWS's",
            r.place,
            r.namespace
        );
    }
    refs
}

/// The metric names in the `_aws.CloudWatchMetrics` of an EMF line.
fn emitted_names(line: &str, out: &mut BTreeSet<String>) {
    let doc: Value = serde_json::from_str(line).unwrap();
    for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
        assert_eq!(directive["Namespace"], NAMESPACE);
        for m in directive["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "{name} has a value in {line}");
            out.insert(name.to_string());
        }
    }
}

/// The emitters of `snapex::metrics` and the step that calls each (and prints its line).
const EMITTERS: &[(&str, &str)] = &[
    ("chunk_exported", "export_chunk.rs"),
    ("export_started", "restore.rs"),
    ("export_succeeded", "finalize.rs"),
    ("export_failed", "cleanup.rs"),
    ("temporary_instances", "watch.rs"),
];

/// Every EMF line the steps print, rendered with sample values by the functions they call.
fn emitted() -> BTreeSet<String> {
    let record: ChunkRecord = serde_json::from_value(json!({
        "chunk": 4,
        "results": [{
            "piece": {"table": {"schema": "public", "name": "orders"}, "range": null},
            "file": {"path": "exports/e1/public/orders/p.parquet", "rows": 10, "bytes": 4096},
            "lossy": {},
            "seconds": 1.5
        }],
        "retries": 1
    }))
    .unwrap();
    let t = 1_764_600_000_000;
    let lines = [
        metrics::chunk_exported("e1", Some("postgres"), &record, t),
        metrics::export_started("e1", Some("postgres"), t),
        metrics::export_succeeded("e1", None, 10, 4096, t),
        metrics::export_failed("e1", None, "RestoreDeadline", t),
        metrics::temporary_instances(1, 42, Some("snapex-orders-db-1234abcd"), t),
    ];
    assert_eq!(lines.len(), EMITTERS.len());
    let mut names = BTreeSet::new();
    for line in &lines {
        emitted_names(&line.render(), &mut names);
    }
    names
}

#[test]
fn every_metric_the_template_refers_to_is_emitted() {
    let emitted = emitted();
    let all: BTreeSet<String> = ALL.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        emitted, all,
        "snapex::metrics::ALL and what the emitters render differ"
    );
    let refs = template_references();
    for r in refs.iter().filter(|r| r.namespace == NAMESPACE) {
        assert!(
            emitted.contains(&r.name),
            "{} refers to {}/{}, which nothing emits (snapex::metrics::ALL: {ALL:?})",
            r.place,
            r.namespace,
            r.name
        );
    }
}

#[test]
fn every_emitted_metric_is_charted_and_the_alarms_watch_what_they_should() {
    let refs = template_references();
    let charted: BTreeSet<&str> = refs
        .iter()
        .filter(|r| r.namespace == NAMESPACE && r.place.starts_with("dashboard widget"))
        .map(|r| r.name.as_str())
        .collect();
    for name in ALL {
        assert!(
            charted.contains(name),
            "{name} is emitted but no dashboard widget charts it"
        );
    }
    let alarmed: BTreeSet<(&str, &str)> = refs
        .iter()
        .filter(|r| r.place.starts_with("alarm "))
        .map(|r| (r.namespace.as_str(), r.name.as_str()))
        .collect();
    assert!(
        alarmed.contains(&(NAMESPACE, metrics::OLDEST_TEMPORARY_INSTANCE_AGE_MINUTES)),
        "{alarmed:?}"
    );
    assert!(
        alarmed.contains(&("AWS/States", "ExecutionsFailed")),
        "{alarmed:?}"
    );
}

#[test]
fn the_steps_print_what_the_emitters_render() {
    for (emitter, step) in EMITTERS {
        let source = repo_file(&format!("functions/aws/src/steps/{step}"));
        assert!(
            source.contains(&format!("metrics::{emitter}(")),
            "functions/aws/src/steps/{step} no longer calls snapex::metrics::{emitter}"
        );
        assert!(
            source.contains("super::emit("),
            "functions/aws/src/steps/{step} no longer prints its metrics"
        );
    }
}

/// The checks above must be able to fail: a misspelt name, a misspelt namespace and an
/// unknown alarm metric in a copy of the template are all caught.
#[test]
fn the_checks_catch_a_misspelt_template() {
    let template = repo_file("template.yaml");
    let emitted = emitted();
    let unknown = |template: &str| -> Vec<Reference> {
        let mut refs = Vec::new();
        for body in dashboard_bodies(template) {
            dashboard_metrics(&body, &mut refs);
            query_metrics(&body, &mut refs);
        }
        alarm_metrics(template, &mut refs);
        refs.into_iter()
            .filter(|r| {
                (r.namespace == NAMESPACE && !emitted.contains(&r.name))
                    || (r.namespace != NAMESPACE && !r.namespace.starts_with("AWS/"))
            })
            .collect()
    };
    assert_eq!(unknown(&template), []);

    let chart = template.replacen("\"ChunkRetries\"", "\"ChunkRetry\"", 1);
    assert_ne!(chart, template);
    assert_eq!(unknown(&chart)[0].name, "ChunkRetry");

    let alarm = template.replacen(
        "MetricName: OldestTemporaryInstanceAgeMinutes",
        "MetricName: OldestTemporaryInstanceAge",
        1,
    );
    assert_ne!(alarm, template);
    let bad = unknown(&alarm);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].place.starts_with("alarm "), "{bad:?}");

    let namespace = template.replacen(
        "[\"Snapex\", \"ExportsFailed\"",
        "[\"SnapEx\", \"ExportsFailed\"",
        1,
    );
    assert_ne!(namespace, template);
    assert_eq!(unknown(&namespace)[0].namespace, "SnapEx");

    let query = template.replacen(
        "fields @timestamp, export_id, chunk, table, ChunkSeconds",
        "fields @timestamp, export_id, chunk, table, ChunkSecs",
        1,
    );
    assert_ne!(query, template);
    assert_eq!(unknown(&query)[0].name, "ChunkSecs");
}
