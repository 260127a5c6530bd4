//! Fakes shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use snapex_asl::{
    Definition, Event, Execution, ItemReader, NoItems, RunOptions, Runner, TaskFailure, Tasks,
};

type Handler = dyn Fn(&str, &Value, usize) -> Result<Value, TaskFailure> + Send + Sync;

/// Tasks answered by one closure `(resource, input, earlier calls to that resource)`; every
/// call is recorded. With `pause`, each call sleeps that long first, and the most calls in
/// flight at once is kept.
pub struct FakeTasks {
    handler: Box<Handler>,
    pub calls: Mutex<Vec<(String, Value)>>,
    pause: Option<Duration>,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
}

impl FakeTasks {
    pub fn new(
        handler: impl Fn(&str, &Value, usize) -> Result<Value, TaskFailure> + Send + Sync + 'static,
    ) -> Arc<FakeTasks> {
        Arc::new(FakeTasks::build(handler, None))
    }

    pub fn pausing(
        pause: Duration,
        handler: impl Fn(&str, &Value, usize) -> Result<Value, TaskFailure> + Send + Sync + 'static,
    ) -> Arc<FakeTasks> {
        Arc::new(FakeTasks::build(handler, Some(pause)))
    }

    fn build(
        handler: impl Fn(&str, &Value, usize) -> Result<Value, TaskFailure> + Send + Sync + 'static,
        pause: Option<Duration>,
    ) -> FakeTasks {
        FakeTasks {
            handler: Box::new(handler),
            calls: Mutex::new(Vec::new()),
            pause,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    pub fn calls_to(&self, resource: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _)| r == resource)
            .map(|(_, input)| input.clone())
            .collect()
    }
}

impl Tasks for FakeTasks {
    fn invoke<'a>(
        &'a self,
        resource: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, TaskFailure>> {
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            if let Some(pause) = self.pause {
                tokio::time::sleep(pause).await;
            }
            let earlier = {
                let mut calls = self.calls.lock().unwrap();
                let earlier = calls.iter().filter(|(r, _)| r == resource).count();
                calls.push((resource.to_owned(), input.clone()));
                earlier
            };
            let result = (self.handler)(resource, &input, earlier);
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            result
        })
    }
}

/// Objects served from memory, by `bucket/key`.
#[derive(Default)]
pub struct FakeBucket {
    pub objects: BTreeMap<String, Vec<u8>>,
    pub reads: Mutex<Vec<String>>,
}

impl ItemReader for FakeBucket {
    fn read<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, TaskFailure>> {
        let path = format!("{bucket}/{key}");
        self.reads.lock().unwrap().push(path.clone());
        let found = self.objects.get(&path).cloned();
        Box::pin(async move {
            found.ok_or_else(|| TaskFailure::new("NoSuchKey", format!("no object {path}")))
        })
    }
}

pub fn options() -> RunOptions {
    RunOptions {
        delay_scale: 0.0,
        execution_name: Some("test-execution".into()),
        state_machine_name: "TestMachine".into(),
        jitter_seed: Some(42),
        ..RunOptions::default()
    }
}

pub fn definition(value: Value) -> Definition {
    Definition::from_value(&value).unwrap_or_else(|e| panic!("definition refused: {e}"))
}

pub async fn run(definition_json: Value, tasks: Arc<dyn Tasks>, input: Value) -> Execution {
    Runner::new(
        definition(definition_json),
        tasks,
        Arc::new(NoItems),
        options(),
    )
    .run(input)
    .await
}

/// Runs with tasks that must not be called.
pub async fn run_without_tasks(definition_json: Value, input: Value) -> Execution {
    let tasks = FakeTasks::new(|resource, _, _| panic!("unexpected task {resource}"));
    run(definition_json, tasks, input).await
}

/// A one-Task definition with extra fields on the task.
pub fn one_task(extra: Value) -> Value {
    let mut task = json!({"Type": "Task", "Resource": "fn", "End": true});
    for (k, v) in extra.as_object().unwrap() {
        task[k] = v.clone();
    }
    json!({"StartAt": "T", "States": {"T": task}})
}

pub fn output(execution: &Execution) -> &Value {
    execution
        .output()
        .unwrap_or_else(|| panic!("the execution failed: {:?}", execution.status))
}

/// The RetryScheduled events of a scope: (error, retrier, computed, delay).
pub fn retries(execution: &Execution, scope: &str) -> Vec<(String, usize, f64, f64)> {
    execution
        .events_in(scope)
        .filter_map(|e| match e {
            Event::RetryScheduled {
                error,
                retrier,
                computed_seconds,
                delay_seconds,
                ..
            } => Some((error.clone(), *retrier, *computed_seconds, *delay_seconds)),
            _ => None,
        })
        .collect()
}

pub fn task_attempts(execution: &Execution, scope: &str) -> usize {
    execution
        .events_in(scope)
        .filter(|e| matches!(e, Event::TaskScheduled { .. }))
        .count()
}
