//! Snapex's own definition (`statemachine/export.asl.json`) with its seven substitutions
//! bound, run against fake functions: the happy path, a transient error retried, a failed
//! chunk or registration batch that sends the execution through Cleanup to a Fail state, and
//! a cleanup that keeps failing.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use snapex_asl::{Definition, Event, Execution, Runner, TaskFailure};

const FUNCTIONS: [(&str, &str); 7] = [
    ("RestoreFunctionArn", "snapex-restore"),
    ("CheckInstanceFunctionArn", "snapex-check-instance"),
    ("PlanFunctionArn", "snapex-plan"),
    ("ExportChunkFunctionArn", "snapex-export-chunk"),
    ("FinalizeFunctionArn", "snapex-finalize"),
    ("RegisterFunctionArn", "snapex-register"),
    ("CleanupFunctionArn", "snapex-cleanup"),
];
const CHUNKS: usize = 60;
/// The registration's batches Finalize writes.
const BATCHES: usize = 7;

fn export_definition() -> Definition {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../export.asl.json");
    let text = std::fs::read_to_string(path).unwrap();
    let substitutions: BTreeMap<String, String> = FUNCTIONS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Definition::parse(&text, &substitutions).unwrap()
}

fn job() -> Value {
    json!({"job": {
        "export_id": "shop-20250101T000000Z",
        "snapshot": {"kind": "instance", "identifier": "shop-snap", "arn": "arn:aws:rds:eu-west-1:1:snapshot:shop-snap",
                     "source": "shop", "created_at": "2025-01-01T00:00:00Z"},
        "database": "shop", "destination": "s3://lake/exports",
        "include": [], "exclude": [], "partition_by": [],
        "target_file_bytes": 134217728, "max_concurrency": 8,
        "instance": {"identifier": "snapex-shop-1", "class": "db.r6g.large", "deadline_minutes": 90}
    }})
}

fn items_bucket() -> Arc<FakeBucket> {
    let mut bucket = FakeBucket::default();
    let lines: String = (0..CHUNKS)
        .map(|n| {
            format!(
                "{}\n",
                json!({"chunk": n, "table": format!("public.t{}", n % 3)})
            )
        })
        .collect();
    bucket.objects.insert(
        "lake/exports/shop-20250101T000000Z/_work/chunks.jsonl".into(),
        lines.into_bytes(),
    );
    let batches: String = (0..BATCHES)
        .map(|n| {
            format!(
                "{}\n",
                json!({"batch": n, "of": 3 * BATCHES, "tables": [
                    {"name": format!("t{n}a"), "partitions_files": 0},
                    {"name": format!("t{n}b"), "partitions_files": 2},
                    {"name": format!("t{n}c"), "partitions_files": 0}]})
            )
        })
        .collect();
    bucket.objects.insert(
        "lake/exports/shop-20250101T000000Z/_work/glue-batches.jsonl".into(),
        batches.into_bytes(),
    );
    Arc::new(bucket)
}

/// The seven functions, faked. `chunk` decides each export-chunk call (chunk number, earlier
/// calls for that chunk); `cleanup_fails` makes Cleanup fail every time.
fn functions(
    chunk: impl Fn(u64, usize) -> Result<(), TaskFailure> + Send + Sync + 'static,
    cleanup_fails: bool,
) -> Arc<FakeTasks> {
    registering(chunk, |_| Ok(()), cleanup_fails)
}

/// [`functions`], with `batch` deciding each register call (batch number).
fn registering(
    chunk: impl Fn(u64, usize) -> Result<(), TaskFailure> + Send + Sync + 'static,
    batch: impl Fn(u64) -> Result<(), TaskFailure> + Send + Sync + 'static,
    cleanup_fails: bool,
) -> Arc<FakeTasks> {
    let chunk_calls: Mutex<BTreeMap<u64, usize>> = Mutex::new(BTreeMap::new());
    FakeTasks::pausing(
        Duration::from_millis(1),
        move |resource, input, earlier| match resource {
            "snapex-restore" => Ok(json!({
                "identifier": "snapex-shop-1", "engine": "postgres",
                "secret_arn": "arn:aws:secretsmanager:eu-west-1:1:secret:snapex-shop-1",
                "deadline": 1735693200, "poll_seconds": 30
            })),
            // Not ready on the first check, ready on the second.
            "snapex-check-instance" if earlier == 0 => {
                Ok(json!({"ready": false, "status": "creating"}))
            }
            "snapex-check-instance" => Ok(json!({
                "ready": true, "status": "available",
                "endpoint": {"host": "snapex-shop-1.local", "port": 5432}
            })),
            "snapex-plan" => Ok(json!({
                "tables": 3, "chunks": CHUNKS, "concurrency": 8,
                "items": {"bucket": "lake", "key": "exports/shop-20250101T000000Z/_work/chunks.jsonl"}
            })),
            "snapex-export-chunk" => {
                let n = input["item"]["chunk"].as_u64().unwrap();
                let earlier_for_chunk = {
                    let mut calls = chunk_calls.lock().unwrap();
                    let count = calls.entry(n).or_insert(0);
                    *count += 1;
                    *count - 1
                };
                chunk(n, earlier_for_chunk)?;
                Ok(json!({"chunk": n, "rows": 100, "files": 1}))
            }
            "snapex-finalize" => Ok(finalized()),
            "snapex-register" => {
                let n = input["item"]["batch"].as_u64().unwrap();
                batch(n)?;
                Ok(json!({"batch": n, "tables": {"created": 3}, "partitions": {"created": 20}}))
            }
            "snapex-cleanup" if cleanup_fails => {
                Err(TaskFailure::new("Internal", "cannot delete snapex-shop-1"))
            }
            "snapex-cleanup" => {
                // The real cleanup reads the failed chunk's record; the fake knows which it is.
                let failure = match input["error"]["Error"].as_str() {
                    None => json!({}),
                    Some("States.ExceedToleratedFailureThreshold") => json!({
                        "error": "InvalidInput", "cause": "chunk 13: column price: value out of range"
                    }),
                    Some(other) => json!({"error": other, "cause": input["error"]["Cause"]}),
                };
                let mut out =
                    json!({"deleted": ["instance snapex-shop-1", "secret snapex-shop-1"]});
                if let Some(fields) = failure.as_object() {
                    for (k, v) in fields {
                        out[k] = v.clone();
                    }
                }
                Ok(out)
            }
            other => panic!("unexpected function {other}"),
        },
    )
}

/// Finalize's result, the execution's output.
fn finalized() -> Value {
    json!({
        "export_id": "shop-20250101T000000Z",
        "manifest": "s3://lake/exports/shop-20250101T000000Z/manifest.json",
        "tables": 3 * BATCHES, "files": CHUNKS, "rows": 100 * CHUNKS, "bytes": 123456,
        "registration": {
            "database": "shop",
            "items": {"bucket": "lake", "key": "exports/shop-20250101T000000Z/_work/glue-batches.jsonl"},
            "batches": BATCHES, "concurrency": 3, "requests_per_second": 5
        }
    })
}

async fn run_export(tasks: Arc<FakeTasks>) -> Execution {
    Runner::new(export_definition(), tasks, items_bucket(), options())
        .run(job())
        .await
}

fn succeeding(_: u64, _: usize) -> Result<(), TaskFailure> {
    Ok(())
}

#[test]
fn the_definition_parses_with_its_seven_substitutions_and_not_without() {
    let definition = export_definition();
    assert_eq!(definition.start_at(), "Restore");
    assert_eq!(
        definition.state_names(),
        vec![
            "CheckInstance",
            "Cleanup",
            "CleanupFailed",
            "ExportChunks",
            "ExportFailed",
            "ExportSucceeded",
            "Finalize",
            "InstanceReady",
            "Outcome",
            "Plan",
            "RegisterTables",
            "Restore",
            "WaitForInstance"
        ]
    );
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../export.asl.json"))
        .unwrap();
    for (missing, _) in FUNCTIONS {
        let partial: BTreeMap<String, String> = FUNCTIONS
            .iter()
            .filter(|(k, _)| *k != missing)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let error = Definition::parse(&text, &partial).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("unbound substitution \"${{{missing}}}\"")
        );
    }
}

/// The errors the Lambda service itself returns for an invocation that may succeed if tried
/// again (Step Functions' "Handle transient Lambda service exceptions" list), before our code
/// ran or without its answer.
const LAMBDA_TRANSIENT_ERRORS: [&str; 5] = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
];

/// Every Task state of `states`, with those of Map and Parallel states inside it, by name.
fn task_states(states: &Value, out: &mut Vec<(String, Value)>) {
    for (name, state) in states.as_object().unwrap() {
        match state["Type"].as_str() {
            Some("Task") => out.push((name.clone(), state.clone())),
            Some("Map") => {
                let inner = state
                    .get("ItemProcessor")
                    .or(state.get("Iterator"))
                    .unwrap();
                task_states(&inner["States"], out);
            }
            Some("Parallel") => {
                for branch in state["Branches"].as_array().unwrap() {
                    task_states(&branch["States"], out);
                }
            }
            _ => {}
        }
    }
}

#[test]
fn every_task_retries_every_transient_lambda_service_error() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../export.asl.json"))
        .unwrap();
    let definition: Value = serde_json::from_str(&text).unwrap();
    let mut tasks = Vec::new();
    task_states(&definition["States"], &mut tasks);
    assert!(tasks.iter().any(|(name, _)| name == "ExportChunk"));
    let mut missing = Vec::new();
    for (name, task) in &tasks {
        let retried: Vec<&str> = task["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
            .map(|e| e.as_str().unwrap())
            .collect();
        for error in LAMBDA_TRANSIENT_ERRORS {
            if !retried.contains(&error) && !retried.contains(&"States.ALL") {
                missing.push(format!("{name} does not retry {error}"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

#[tokio::test]
async fn happy_path_exports_every_chunk_and_succeeds_with_the_finalize_result() {
    let tasks = functions(succeeding, false);
    let execution = run_export(tasks.clone()).await;
    assert_eq!(output(&execution), &finalized());
    assert_eq!(
        execution.states_entered(),
        vec![
            "Restore",
            "WaitForInstance",
            "CheckInstance",
            "InstanceReady",
            "WaitForInstance",
            "CheckInstance",
            "InstanceReady",
            "Plan",
            "ExportChunks",
            "Finalize",
            "RegisterTables",
            "Cleanup",
            "Outcome",
            "ExportSucceeded"
        ]
    );
    // The Wait took its seconds from the restore result.
    let waits: Vec<f64> = execution
        .events_in("")
        .filter_map(|e| match e {
            Event::WaitStarted { seconds, .. } => Some(*seconds),
            _ => None,
        })
        .collect();
    assert_eq!(waits, vec![30.0, 30.0]);

    // Every chunk once, each child given {job, instance, endpoint, item}.
    let chunk_inputs = tasks.calls_to("snapex-export-chunk");
    let mut chunks: Vec<u64> = chunk_inputs
        .iter()
        .map(|i| i["item"]["chunk"].as_u64().unwrap())
        .collect();
    chunks.sort();
    assert_eq!(chunks, (0..CHUNKS as u64).collect::<Vec<_>>());
    let first = chunk_inputs
        .iter()
        .find(|i| i["item"]["chunk"] == json!(0))
        .unwrap();
    assert_eq!(first["job"], job()["job"]);
    assert_eq!(
        first["instance"]["secret_arn"],
        json!("arn:aws:secretsmanager:eu-west-1:1:secret:snapex-shop-1")
    );
    assert_eq!(
        first["endpoint"],
        json!({"host": "snapex-shop-1.local", "port": 5432})
    );
    assert_eq!(first["item"], json!({"chunk": 0, "table": "public.t0"}));
    assert_eq!(first.as_object().unwrap().len(), 4);

    // MaxConcurrencyPath took the plan's concurrency, and no more ran at once.
    assert!(execution.events_in("").any(|e| matches!(
        e,
        Event::MapStarted {
            items: CHUNKS,
            max_concurrency: 8,
            ..
        }
    )));
    let most = tasks.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=8).contains(&most), "{most} chunks at once");

    // ResultPath null: Finalize sees the state without the Map's results, and no error.
    let finalize = &tasks.calls_to("snapex-finalize")[0];
    let mut keys: Vec<&String> = finalize.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, vec!["instance", "job", "plan", "ready"]);
    let cleanup = &tasks.calls_to("snapex-cleanup")[0];
    assert!(cleanup.get("error").is_none());
    assert_eq!(cleanup["result"]["rows"], json!(100 * CHUNKS));

    // Every registration batch once, after Finalize, each given {job, item,
    // requests_per_second}, at most the registration's concurrency at once.
    let batch_inputs = tasks.calls_to("snapex-register");
    let mut batches: Vec<u64> = batch_inputs
        .iter()
        .map(|i| i["item"]["batch"].as_u64().unwrap())
        .collect();
    batches.sort();
    assert_eq!(batches, (0..BATCHES as u64).collect::<Vec<_>>());
    let first = batch_inputs
        .iter()
        .find(|i| i["item"]["batch"] == json!(0))
        .unwrap();
    let mut keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, vec!["item", "job", "requests_per_second"]);
    assert_eq!(first["job"], job()["job"]);
    assert_eq!(first["requests_per_second"], json!(5));
    assert_eq!(first["item"]["tables"][1]["name"], json!("t0b"));
    assert!(execution.events_in("").any(|e| matches!(
        e,
        Event::MapStarted {
            items: BATCHES,
            max_concurrency: 3,
            ..
        }
    )));
}

#[tokio::test]
async fn a_failed_registration_batch_fails_the_export_through_cleanup() {
    // The export is published, but a batch its tables could not be registered in Glue: the
    // execution fails with the batch's error, after Cleanup, and every other batch ran.
    let tasks = registering(
        succeeding,
        |n| match n {
            4 => Err(TaskFailure::new(
                "InvalidInput",
                "table t4b: AccessDeniedException",
            )),
            _ => Ok(()),
        },
        false,
    );
    let execution = run_export(tasks.clone()).await;
    let entered = execution.states_entered();
    assert_eq!(
        entered[entered.len() - 5..],
        [
            "Finalize",
            "RegisterTables",
            "Cleanup",
            "Outcome",
            "ExportFailed"
        ]
    );
    assert!(execution.events_in("").any(|e| matches!(e,
        Event::MapIterationFailed { index: 4, error, .. } if error == "InvalidInput")));
    let cleanup = &tasks.calls_to("snapex-cleanup")[0];
    assert_eq!(
        cleanup["error"]["Error"],
        json!("States.ExceedToleratedFailureThreshold")
    );
    // Cleanup still sees what Finalize published.
    assert_eq!(cleanup["result"]["rows"], json!(100 * CHUNKS));
    assert!(execution.failure().is_some());
}

#[tokio::test]
async fn a_transient_error_is_retried_to_success_with_capped_jittered_backoff() {
    // Chunk 7 is throttled three times, then succeeds.
    let tasks = functions(
        |n, earlier| {
            if n == 7 && earlier < 3 {
                Err(TaskFailure::new("Retryable", "throttled"))
            } else {
                Ok(())
            }
        },
        false,
    );
    let execution = run_export(tasks.clone()).await;
    assert_eq!(output(&execution)["rows"], json!(100 * CHUNKS));
    let retried = retries(&execution, "ExportChunks[7]");
    let computed: Vec<f64> = retried.iter().map(|r| r.2).collect();
    assert_eq!(computed, vec![2.0, 4.0, 8.0]);
    for (error, retrier, computed, delay) in &retried {
        assert_eq!((error.as_str(), *retrier), ("Retryable", 0));
        assert!(
            (0.0..=*computed).contains(delay),
            "FULL jitter: {delay} outside [0, {computed}]"
        );
    }
    assert_eq!(task_attempts(&execution, "ExportChunks[7]"), 4);
    assert_eq!(tasks.calls_to("snapex-export-chunk").len(), CHUNKS + 3);
}

#[tokio::test]
async fn a_failed_chunk_fails_the_map_cleans_up_and_fails_with_the_chunks_error() {
    // InvalidInput is not retried: the child fails, and with 0% tolerated so does the Map.
    let tasks = functions(
        |n, _| {
            if n == 13 {
                Err(TaskFailure::new(
                    "InvalidInput",
                    "chunk 13: column price: value out of range",
                ))
            } else {
                Ok(())
            }
        },
        false,
    );
    let execution = run_export(tasks.clone()).await;
    assert_eq!(
        execution.failure(),
        Some(("InvalidInput", "chunk 13: column price: value out of range"))
    );
    let entered = execution.states_entered();
    assert_eq!(
        entered[entered.len() - 5..],
        ["Plan", "ExportChunks", "Cleanup", "Outcome", "ExportFailed"]
    );
    assert!(tasks.calls_to("snapex-finalize").is_empty());
    assert_eq!(task_attempts(&execution, "ExportChunks[13]"), 1);
    assert!(execution.events_in("").any(|e| matches!(e,
        Event::MapIterationFailed { index: 13, error, .. } if error == "InvalidInput")));
    // The Catch put the Map's error at $.error for Cleanup.
    let cleanup = &tasks.calls_to("snapex-cleanup")[0];
    assert_eq!(
        cleanup["error"],
        json!({"Error": "States.ExceedToleratedFailureThreshold",
               "Cause": "The specified tolerated failure threshold was exceeded"})
    );
    assert_eq!(cleanup["plan"]["chunks"], json!(CHUNKS));
}

#[tokio::test]
async fn a_restore_deadline_goes_through_cleanup_to_export_failed() {
    let tasks = FakeTasks::new(|resource, input, _| match resource {
        "snapex-restore" => Ok(
            json!({"identifier": "i", "engine": "postgres", "secret_arn": "s",
                                      "deadline": 0, "poll_seconds": 15}),
        ),
        "snapex-check-instance" => Err(TaskFailure::new(
            "RestoreDeadline",
            "not available after 90 minutes",
        )),
        "snapex-cleanup" => Ok(
            json!({"deleted": ["instance i"], "error": input["error"]["Error"],
                                      "cause": input["error"]["Cause"]}),
        ),
        other => panic!("unexpected function {other}"),
    });
    let execution = Runner::new(export_definition(), tasks, items_bucket(), options())
        .run(job())
        .await;
    assert_eq!(
        execution.failure(),
        Some(("RestoreDeadline", "not available after 90 minutes"))
    );
    assert_eq!(
        execution.states_entered(),
        vec![
            "Restore",
            "WaitForInstance",
            "CheckInstance",
            "Cleanup",
            "Outcome",
            "ExportFailed"
        ]
    );
}

#[tokio::test]
async fn a_cleanup_that_keeps_failing_is_retried_8_times_then_cleanup_failed() {
    let tasks = functions(succeeding, true);
    let execution = run_export(tasks.clone()).await;
    assert_eq!(
        execution.failure(),
        Some(("CleanupFailed", "cannot delete snapex-shop-1"))
    );
    let computed: Vec<f64> = retries(&execution, "")
        .iter()
        .filter(|r| r.0 == "Internal")
        .map(|r| r.2)
        .collect();
    assert_eq!(
        computed,
        vec![5.0, 10.0, 20.0, 40.0, 80.0, 120.0, 120.0, 120.0]
    );
    assert_eq!(tasks.calls_to("snapex-cleanup").len(), 9);
    let entered = execution.states_entered();
    assert_eq!(entered[entered.len() - 2..], ["Cleanup", "CleanupFailed"]);
}
