//! The local Lambda (`snapex_tests::lambda`) with the functions' real bootstraps: a handler's
//! error, a crash at start-up, a timeout and running out of memory reach the state machine
//! runner with the error names and causes Step Functions would show; environments are reused once warm, one
//! process per concurrent invocation; an unknown function is Lambda's own error. A small
//! Python runtime (`/usr/bin/python3`) shows the environment and headers the emulator gives,
//! and its refusal of a response over 6 MB and handling of an init error.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use snapex_asl::{Definition, NoItems, RunOptions, Runner, Status};
use snapex_tests::lambda::{Lambda, LambdaTasks};
mod common;
use common::lambda::function;
use common::setup::{fixture, start_input};

fn snapshot_event() -> Value {
    fixture("db-snapshot-manual-created.json")
}

/// The state machine's input for the fixture snapshot, as the trigger makes it: the job, and
/// no `instance` yet (Restore has not run).
fn input_without_instance() -> Value {
    let config = "destination = \"s3://lake/exports\"\n[[database]]\nsource = \"orders-db\"\ndatabase = \"shop\"\n";
    serde_json::to_value(start_input(config, &snapshot_event(), "orders-db")).unwrap()
}

/// A one-state machine whose Task invokes `name` with the execution's input, with the
/// template's Retry for Lambda service errors and `Retryable`.
fn one_task(lambda: &Lambda, name: &str) -> Definition {
    let definition = json!({
        "StartAt": "Call",
        "States": {"Call": {
            "Type": "Task",
            "Resource": "${Fn}",
            "Retry": [{
                "ErrorEquals": ["Lambda.ServiceException", "Lambda.TooManyRequestsException", "Retryable"],
                "MaxAttempts": 3
            }],
            "End": true
        }}
    });
    let subs = BTreeMap::from([("Fn".to_owned(), lambda.arn(name))]);
    Definition::parse(&definition.to_string(), &subs).unwrap()
}

async fn run(lambda: &Arc<Lambda>, name: &str, input: Value) -> Status {
    let runner = Runner::new(
        one_task(lambda, name),
        Arc::new(LambdaTasks::new(lambda.clone())),
        Arc::new(NoItems),
        RunOptions {
            delay_scale: 0.0,
            ..RunOptions::default()
        },
    );
    runner.run(input).await.status
}

/// The cause Step Functions shows for a Lambda function error: the error payload, a JSON
/// object with the error type and message.
fn cause_of(status: &Status) -> (String, Value) {
    let Status::Failed { error, cause } = status else {
        panic!("the execution should have failed: {status:?}")
    };
    let cause: Value = serde_json::from_str(cause).unwrap_or_else(|e| panic!("{e}: {cause}"));
    assert_eq!(cause["errorType"], error.as_str(), "{cause}");
    (error.clone(), cause)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_error_reaches_the_runner_with_its_error_type_and_the_environment_stays_warm() {
    let lambda = Arc::new(Lambda::new([function("snapex-check-instance")]));
    // CheckInstance needs the Restore step's `instance`.
    let input = input_without_instance();

    let status = run(&lambda, "snapex-check-instance", input.clone()).await;
    let (error, cause) = cause_of(&status);
    assert_eq!(error, "InvalidInput");
    assert_eq!(cause["errorMessage"], "no $.instance: Restore has not run");

    // A handled error keeps the environment: the second call runs in the same process.
    let again = lambda
        .invoke("snapex-check-instance", &input)
        .await
        .unwrap_err();
    assert_eq!(
        again.to_task_failure().error,
        "InvalidInput",
        "{}",
        again.to_task_failure()
    );
    assert_eq!(lambda.cold_starts("snapex-check-instance"), 1);
    let reports = lambda.reports("snapex-check-instance");
    assert_eq!(reports.len(), 2);
    assert!(reports[0].init.is_some() && reports[1].init.is_none());
    assert!(reports[0].max_memory_mb > 0, "{reports:?}");

    // Three at once: the warm one and two new processes.
    let calls = (0..3).map(|_| lambda.invoke("snapex-check-instance", &input));
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|r| r.is_err()), "{results:?}");
    assert_eq!(lambda.cold_starts("snapex-check-instance"), 3);

    // The function logged each failure with its name, as JSON, within the request id the
    // Runtime API gave it (a live process's lines may still be on their way).
    let failed = || -> BTreeSet<String> {
        lambda
            .logs("snapex-check-instance")
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["error"] == "InvalidInput")
            .filter_map(|l| l["requestId"].as_str().map(str::to_owned))
            .collect()
    };
    let until = Instant::now() + Duration::from_secs(5);
    while failed().len() < 5 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let invoked: BTreeSet<String> = lambda
        .reports("snapex-check-instance")
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    let logs = lambda.logs("snapex-check-instance");
    assert_eq!(failed(), invoked, "{logs:#?}");
    assert!(logs.iter().any(|l| l.starts_with("REPORT RequestId: ")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_past_its_timeout_is_killed_and_fails_as_lambda_reports_it() {
    // An S3 endpoint that accepts connections and never answers: the trigger waits for its
    // configuration until Lambda ends the invocation.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = vec![];
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let trigger = function("snapex-trigger")
        .timeout(Duration::from_secs(1))
        .var("AWS_ENDPOINT_URL", &endpoint)
        .var("SNAPEX_CONFIG", "s3://cfg/snapex.toml")
        .var(
            "SNAPEX_STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:snapex-export",
        );
    let lambda = Arc::new(Lambda::new([trigger]));
    let event = snapshot_event();

    let started = Instant::now();
    let status = run(&lambda, "snapex-trigger", event.clone()).await;
    let took = started.elapsed();
    let (error, cause) = cause_of(&status);
    assert_eq!(error, "Sandbox.Timedout");
    let message = cause["errorMessage"].as_str().unwrap();
    assert!(message.starts_with("RequestId: "), "{message}");
    assert!(
        message.ends_with("Error: Task timed out after 1.00 seconds"),
        "{message}"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // The definition does not retry a timeout (one invocation), and the timed-out process
    // is gone: the next invocation starts a new one.
    assert_eq!(lambda.reports("snapex-trigger").len(), 1);
    let again = lambda.invoke("snapex-trigger", &event).await.unwrap_err();
    assert_eq!(again.to_task_failure().error, "Sandbox.Timedout", "{again}");
    assert_eq!(lambda.cold_starts("snapex-trigger"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_start_fails_with_runtime_exit_error() {
    // A setting the function refuses at start-up: it logs why and exits before polling.
    let restore = function("snapex-restore").var("SNAPEX_POLL_SECONDS", "soon");
    let lambda = Arc::new(Lambda::new([restore]));
    let status = run(&lambda, "snapex-restore", json!({})).await;
    let (error, cause) = cause_of(&status);
    assert_eq!(error, "Runtime.ExitError");
    let message = cause["errorMessage"].as_str().unwrap();
    assert!(
        message.ends_with("Error: Runtime exited with error: exit status 1"),
        "{message}"
    );
    let logs = lambda.logs("snapex-restore").join("\n");
    assert!(
        logs.contains("cannot start") && logs.contains("SNAPEX_POLL_SECONDS"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_past_its_memory_size_is_killed_as_out_of_memory() {
    // Any bootstrap is resident in more than 2 MB once its runtime has started.
    let check = function("snapex-check-instance").memory_mb(2);
    let lambda = Arc::new(Lambda::new([check]));
    let status = run(&lambda, "snapex-check-instance", input_without_instance()).await;
    let (error, cause) = cause_of(&status);
    assert_eq!(error, "Runtime.OutOfMemory");
    let message = cause["errorMessage"].as_str().unwrap();
    assert!(
        message.ends_with("Error: Runtime exited with error: signal: killed"),
        "{message}"
    );
    let reports = lambda.reports("snapex-check-instance");
    assert_eq!(reports[0].error.as_deref(), Some("Runtime.OutOfMemory"));
    assert!(reports[0].max_memory_mb > 2, "{reports:?}");
}

#[tokio::test]
async fn an_unknown_function_is_lambdas_resource_not_found() {
    let lambda = Arc::new(Lambda::new([]));
    let status = run(&lambda, "snapex-missing", json!({})).await;
    let Status::Failed { error, cause } = status else {
        panic!("{status:?}")
    };
    assert_eq!(error, "Lambda.ResourceNotFoundException");
    assert!(cause.contains("snapex-missing"), "{cause}");
}

/// A runtime in Python, speaking the Runtime API as a custom runtime does: it answers each
/// event with its environment and the headers of its delivery; for `{"big": true}` it posts a
/// 7 MB response and logs the status the API answered; with `MODE=init-error` it reports an
/// init error and exits.
const PYTHON_RUNTIME: &str = r#"#!/usr/bin/python3
import json, os, sys, urllib.error, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
def post(path, body):
    request = urllib.request.Request(api + path, data=json.dumps(body).encode(), method="POST")
    try:
        return urllib.request.urlopen(request).status
    except urllib.error.HTTPError as e:
        return e.code
if os.environ.get("MODE") == "init-error":
    post("/init/error", {"errorType": "Runtime.ConfigError", "errorMessage": "no configuration"})
    sys.exit(3)
while True:
    with urllib.request.urlopen(api + "/invocation/next") as r:
        headers = {k.lower(): v for k, v in r.headers.items()}
        event = json.load(r)
    rid = headers["lambda-runtime-aws-request-id"]
    if event.get("big"):
        print(json.dumps({"posted": post(f"/invocation/{rid}/response", {"pad": "x" * 7000000})}), flush=True)
        continue
    post(f"/invocation/{rid}/response", {"env": dict(os.environ), "headers": headers, "event": event})
"#;

/// [`PYTHON_RUNTIME`] as the bootstrap of a function named `name`, in a folder of its own.
fn python_function(name: &str) -> snapex_tests::lambda::Function {
    let dir = snapex_tests::temp_dir("lambda-python");
    let bootstrap = dir.join("bootstrap");
    std::fs::write(&bootstrap, PYTHON_RUNTIME).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    snapex_tests::lambda::Function::new(name, bootstrap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_gets_lambdas_environment_and_headers_and_nothing_of_the_tests() {
    let credentials = snapex_tests::lambda::Credentials {
        access_key_id: "AKIAEXPORTCHUNK".into(),
        secret_access_key: "chunk-secret".into(),
        session_token: Some("chunk-session".into()),
    };
    let f = python_function("snapex-echo")
        .timeout(Duration::from_secs(7))
        .memory_mb(3008)
        .var("SNAPEX_LOG", "debug")
        .credentials(credentials);
    let task_root = f.bootstrap.parent().unwrap().to_str().unwrap().to_owned();
    let lambda = Lambda::new([f]);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let out = lambda
        .invoke("snapex-echo", &json!({"chunk": 7}))
        .await
        .unwrap();
    assert_eq!(out["event"], json!({"chunk": 7}));
    let env = &out["env"];
    for (key, value) in [
        ("AWS_LAMBDA_FUNCTION_NAME", "snapex-echo"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/snapex-echo"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("_HANDLER", "bootstrap"),
        ("LAMBDA_TASK_ROOT", task_root.as_str()),
        ("AWS_ACCESS_KEY_ID", "AKIAEXPORTCHUNK"),
        ("AWS_SECRET_ACCESS_KEY", "chunk-secret"),
        ("AWS_SESSION_TOKEN", "chunk-session"),
        ("SNAPEX_LOG", "debug"),
        ("TZ", ":UTC"),
    ] {
        assert_eq!(env[key], value, "{key}: {env}");
    }
    let api = env["AWS_LAMBDA_RUNTIME_API"].as_str().unwrap();
    assert!(api.starts_with("127.0.0.1:"), "{api}");
    let stream = env["AWS_LAMBDA_LOG_STREAM_NAME"].as_str().unwrap();
    assert!(stream.contains("/[$LATEST]"), "{stream}");
    // Nothing of the test's own environment.
    for key in [
        "HOME",
        "CARGO_MANIFEST_DIR",
        "AWS_ENDPOINT_URL",
        "RUST_BACKTRACE",
    ] {
        assert!(env.get(key).is_none(), "{key} leaked: {env}");
    }

    let headers = &out["headers"];
    let report = &lambda.reports("snapex-echo")[0];
    assert_eq!(headers["lambda-runtime-aws-request-id"], report.request_id);
    assert_eq!(
        headers["lambda-runtime-invoked-function-arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:snapex-echo"
    );
    let deadline: u64 = headers["lambda-runtime-deadline-ms"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        deadline >= before + 7000 && deadline < before + 7000 + 5000,
        "deadline {deadline}, invoked at {before}"
    );
    let trace = headers["lambda-runtime-trace-id"].as_str().unwrap();
    assert!(
        trace.starts_with("Root=1-") && trace.contains(";Parent="),
        "{trace}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_over_6_mb_is_refused_and_an_init_error_is_the_invocations_error() {
    let lambda = Lambda::new([
        python_function("snapex-echo"),
        python_function("snapex-broken").var("MODE", "init-error"),
    ]);
    let e = lambda
        .invoke("snapex-echo", &json!({"big": true}))
        .await
        .unwrap_err();
    let failure = e.to_task_failure();
    assert_eq!(failure.error, "Function.ResponseSizeTooLarge", "{failure}");
    assert!(failure.cause.contains("6291556 bytes"), "{failure}");
    // The runtime was told so (413), and its environment stays: the next call is warm.
    let until = Instant::now() + Duration::from_secs(5);
    while !lambda
        .logs("snapex-echo")
        .iter()
        .any(|l| l == r#"{"posted": 413}"#)
        && Instant::now() < until
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs = lambda.logs("snapex-echo");
    assert!(logs.iter().any(|l| l == r#"{"posted": 413}"#), "{logs:#?}");
    lambda.invoke("snapex-echo", &json!({})).await.unwrap();
    assert_eq!(lambda.cold_starts("snapex-echo"), 1);

    // An init error is what the invocation fails with; the environment is not kept.
    let e = lambda
        .invoke("snapex-broken", &json!({}))
        .await
        .unwrap_err();
    let failure = e.to_task_failure();
    assert_eq!(failure.error, "Runtime.ConfigError", "{failure}");
    let cause: Value = serde_json::from_str(&failure.cause).unwrap();
    assert_eq!(cause["errorMessage"], "no configuration");
    lambda
        .invoke("snapex-broken", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(lambda.cold_starts("snapex-broken"), 2);
}
