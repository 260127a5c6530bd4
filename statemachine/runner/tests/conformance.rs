//! Examples from the Amazon States Language specification and the AWS Step Functions developer
//! guide (input and output processing, Retry, Catch), written out as tests: the same inputs
//! must give the outputs the documents show.

mod common;

use common::*;
use serde_json::{Value, json};
use snapex_asl::{Event, Status, TaskFailure};

fn hello(_: &str, input: &Value, _: usize) -> Result<Value, TaskFailure> {
    Ok(json!(format!(
        "Hello, {}!",
        input["who"].as_str().unwrap_or("?")
    )))
}

#[tokio::test]
async fn inputpath_resultpath_outputpath_filter_as_in_the_guide() {
    let tasks = FakeTasks::new(hello);
    let execution = run(
        one_task(
            json!({"InputPath": "$.lambda", "ResultPath": "$.data.lambdaresult",
                        "OutputPath": "$.data"}),
        ),
        tasks.clone(),
        json!({"comment": "An input comment.", "data": {"val1": 23, "val2": 17},
               "extra": "foo", "lambda": {"who": "AWS Step Functions"}}),
    )
    .await;
    assert_eq!(
        tasks.calls_to("fn"),
        vec![json!({"who": "AWS Step Functions"})]
    );
    assert_eq!(
        output(&execution),
        &json!({"val1": 23, "val2": 17, "lambdaresult": "Hello, AWS Step Functions!"})
    );
}

#[tokio::test]
async fn resultpath_replaces_discards_or_merges() {
    let input = json!({"comment": "This is a test", "details": "Default example",
                       "who": "Step Functions"});
    let cases = [
        (json!({}), json!("Hello, Step Functions!")),
        (json!({"ResultPath": "$"}), json!("Hello, Step Functions!")),
        (json!({"ResultPath": null}), input.clone()),
        (
            json!({"ResultPath": "$.taskresult"}),
            json!({"comment": "This is a test", "details": "Default example",
                   "who": "Step Functions", "taskresult": "Hello, Step Functions!"}),
        ),
    ];
    for (fields, expected) in cases {
        let execution = run(
            one_task(fields.clone()),
            FakeTasks::new(hello),
            input.clone(),
        )
        .await;
        assert_eq!(output(&execution), &expected, "with {fields}");
    }
}

#[tokio::test]
async fn resultpath_inserts_into_a_child_node() {
    let execution = run(
        one_task(json!({"ResultPath": "$.strings.lambdaresult"})),
        FakeTasks::new(hello),
        json!({"comment": "An input comment.",
               "strings": {"string1": "foo", "string2": "bar", "string3": "baz"},
               "who": "AWS Step Functions"}),
    )
    .await;
    assert_eq!(
        output(&execution),
        &json!({"comment": "An input comment.",
                "strings": {"string1": "foo", "string2": "bar", "string3": "baz",
                            "lambdaresult": "Hello, AWS Step Functions!"},
                "who": "AWS Step Functions"})
    );
}

#[tokio::test]
async fn resultpath_into_a_scalar_is_a_result_path_match_failure() {
    let execution = run(
        one_task(json!({"ResultPath": "$.comment.result"})),
        FakeTasks::new(hello),
        json!({"comment": "text", "who": "x"}),
    )
    .await;
    let (error, cause) = execution.failure().unwrap();
    assert_eq!(error, "States.ResultPathMatchFailure");
    assert!(cause.contains("$.comment.result"), "{cause}");
}

#[tokio::test]
async fn inputpath_selects_a_node_or_a_slice() {
    let pass = |input_path: &str| json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": input_path, "End": true}}});
    let input = json!({"comment": "Example for InputPath.",
                       "dataset1": {"val1": 1, "val2": 2, "val3": 3},
                       "dataset2": {"val1": "a", "val2": "b", "val3": "c"}});
    let execution = run_without_tasks(pass("$.dataset2"), input).await;
    assert_eq!(
        output(&execution),
        &json!({"val1": "a", "val2": "b", "val3": "c"})
    );
    let execution = run_without_tasks(pass("$.a[0:2]"), json!({"a": [1, 2, 3, 4]})).await;
    assert_eq!(output(&execution), &json!([1, 2]));
}

#[tokio::test]
async fn null_inputpath_and_outputpath_give_an_empty_object() {
    let tasks = FakeTasks::new(|_, input, _| Ok(json!({"got": input})));
    let execution = run(
        one_task(json!({"InputPath": null})),
        tasks.clone(),
        json!({"a": 1}),
    )
    .await;
    assert_eq!(tasks.calls_to("fn"), vec![json!({})]);
    assert_eq!(output(&execution), &json!({"got": {}}));
    let execution = run(
        one_task(json!({"OutputPath": null})),
        tasks,
        json!({"a": 1}),
    )
    .await;
    assert_eq!(output(&execution), &json!({}));
}

#[tokio::test]
async fn parameters_build_the_task_input() {
    let tasks = FakeTasks::new(|_, input, _| Ok(input.clone()));
    let execution = run(
        one_task(json!({"Parameters": {
            "comment": "Selecting what I care about.",
            "MyDetails": {"size.$": "$.product.details.size",
                          "exists.$": "$.product.availability", "StaticValue": "foo"}
        }})),
        tasks,
        json!({"comment": "Example for Parameters.",
               "product": {"details": {"color": "blue", "size": "small", "material": "cotton"},
                           "availability": "in stock", "sku": "2317", "cost": "$23"}}),
    )
    .await;
    assert_eq!(
        output(&execution),
        &json!({"comment": "Selecting what I care about.",
                "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"}})
    );
}

#[tokio::test]
async fn resultselector_then_resultpath() {
    let tasks = FakeTasks::new(|_, _, _| {
        Ok(
            json!({"resourceType": "elasticmapreduce", "resource": "createCluster.sync",
                  "output": {"SdkHttpMetadata": {"HttpStatusCode": 200},
                             "SdkResponseMetadata": {"RequestId": "1234-5678-9012"},
                             "ClusterId": "AKIAIOSFODNN7EXAMPLE"}}),
        )
    });
    let execution = run(
        one_task(json!({
            "ResultSelector": {"ClusterId.$": "$.output.ClusterId",
                               "ResourceType.$": "$.resourceType"},
            "ResultPath": "$.EMROutput"
        })),
        tasks,
        json!({"cluster": "demo"}),
    )
    .await;
    assert_eq!(
        output(&execution),
        &json!({"cluster": "demo",
                "EMROutput": {"ClusterId": "AKIAIOSFODNN7EXAMPLE",
                              "ResourceType": "elasticmapreduce"}})
    );
}

#[tokio::test]
async fn the_whole_pipeline_runs_in_aws_order() {
    // InputPath narrows, Parameters reshape, ResultSelector picks, ResultPath merges into the
    // raw input (not the narrowed one), OutputPath picks from the merge.
    let tasks = FakeTasks::new(|_, input, _| {
        Ok(json!({"sum": input["a"].as_i64().unwrap() + 1, "noise": true}))
    });
    let execution = run(
        one_task(json!({
            "InputPath": "$.inner",
            "Parameters": {"a.$": "$.value"},
            "ResultSelector": {"total.$": "$.sum"},
            "ResultPath": "$.inner.result",
            "OutputPath": "$.inner"
        })),
        tasks.clone(),
        json!({"inner": {"value": 41}, "other": 1}),
    )
    .await;
    assert_eq!(tasks.calls_to("fn"), vec![json!({"a": 41})]);
    assert_eq!(
        output(&execution),
        &json!({"value": 41, "result": {"total": 42}})
    );
}

#[tokio::test]
async fn a_path_that_selects_nothing_fails_with_states_runtime_even_under_catch_all() {
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "fn", "InputPath": "$.missing",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true},
        "Caught": {"Type": "Succeed"}
    }});
    let execution = run_without_tasks(definition, json!({})).await;
    let (error, cause) = execution.failure().unwrap();
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("$.missing"), "{cause}");
    let definition = one_task(json!({"Parameters": {"x.$": "$.nope"}}));
    let execution = run_without_tasks(definition, json!({})).await;
    assert_eq!(execution.failure().unwrap().0, "States.Runtime");
}

#[tokio::test]
async fn pass_result_at_resultpath_as_in_the_spec() {
    let definition = json!({"StartAt": "No-op", "States": {"No-op": {
        "Type": "Pass", "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
        "ResultPath": "$.coords", "End": true}}});
    let execution = run_without_tasks(definition, json!({"georefOf": "Home"})).await;
    assert_eq!(
        output(&execution),
        &json!({"georefOf": "Home", "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}})
    );
}

// The specification's Retry example: three retriers, the first match decides.
fn spec_retriers() -> Value {
    json!({"Retry": [
        {"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 1.5},
        {"ErrorEquals": ["States.Permissions"], "MaxAttempts": 0},
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5, "MaxAttempts": 5, "BackoffRate": 2.0}
    ]})
}

async fn always_failing(error: &'static str) -> snapex_asl::Execution {
    let tasks = FakeTasks::new(move |_, _, _| Err(TaskFailure::new(error, "it broke")));
    run(one_task(spec_retriers()), tasks, json!({})).await
}

#[tokio::test]
async fn spec_retry_timeout_waits_3_then_4_5() {
    let execution = always_failing("States.Timeout").await;
    assert_eq!(
        retries(&execution, ""),
        vec![
            ("States.Timeout".into(), 0, 3.0, 3.0),
            ("States.Timeout".into(), 0, 4.5, 4.5)
        ]
    );
    assert_eq!(task_attempts(&execution, ""), 3);
    assert_eq!(execution.failure(), Some(("States.Timeout", "it broke")));
}

#[tokio::test]
async fn spec_retry_max_attempts_0_never_retries_and_later_retriers_do_not_apply() {
    let execution = always_failing("States.Permissions").await;
    assert!(retries(&execution, "").is_empty());
    assert_eq!(task_attempts(&execution, ""), 1);
    assert_eq!(execution.failure().unwrap().0, "States.Permissions");
}

#[tokio::test]
async fn spec_retry_all_waits_5_10_20_40_80() {
    let execution = always_failing("Anything").await;
    let delays: Vec<f64> = retries(&execution, "").iter().map(|r| r.3).collect();
    assert_eq!(delays, vec![5.0, 10.0, 20.0, 40.0, 80.0]);
    assert_eq!(task_attempts(&execution, ""), 6);
}

#[tokio::test]
async fn guide_complex_retry_counts_per_retrier_then_catches() {
    // ErrorA, ErrorB, ErrorC, ErrorB: waits 1 and 2 (first retrier), 5 (second), then the
    // first retrier has used its 2 attempts and the error goes to Catch.
    let sequence = ["ErrorA", "ErrorB", "ErrorC", "ErrorB"];
    let tasks =
        FakeTasks::new(move |_, _, n| Err(TaskFailure::new(sequence[n], format!("call {n}"))));
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "fn",
              "Retry": [
                  {"ErrorEquals": ["ErrorA", "ErrorB"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 2},
                  {"ErrorEquals": ["ErrorC"], "IntervalSeconds": 5}
              ],
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recovered"}],
              "End": true},
        "Recovered": {"Type": "Pass", "End": true}
    }});
    let execution = run(definition, tasks, json!({"job": 1})).await;
    assert_eq!(
        retries(&execution, ""),
        vec![
            ("ErrorA".into(), 0, 1.0, 1.0),
            ("ErrorB".into(), 0, 2.0, 2.0),
            ("ErrorC".into(), 1, 5.0, 5.0)
        ]
    );
    assert_eq!(task_attempts(&execution, ""), 4);
    assert_eq!(
        output(&execution),
        &json!({"job": 1, "error": {"Error": "ErrorB", "Cause": "call 3"}})
    );
}

#[tokio::test]
async fn retry_succeeds_after_transient_errors_and_counts_in_the_context() {
    let tasks = FakeTasks::new(|_, input, n| {
        if n < 2 {
            Err(TaskFailure::new("Transient", "try again"))
        } else {
            Ok(input.clone())
        }
    });
    let execution = run(
        one_task(
            json!({"Parameters": {"retries.$": "$$.State.RetryCount", "state.$": "$$.State.Name"},
                        "Retry": [{"ErrorEquals": ["Transient"]}]}),
        ),
        tasks.clone(),
        json!({}),
    )
    .await;
    let seen: Vec<Value> = tasks
        .calls_to("fn")
        .iter()
        .map(|c| c["retries"].clone())
        .collect();
    assert_eq!(seen, vec![json!(0), json!(1), json!(2)]);
    assert_eq!(output(&execution), &json!({"retries": 2, "state": "T"}));
    // Defaults: 1 second, rate 2.
    let delays: Vec<f64> = retries(&execution, "").iter().map(|r| r.2).collect();
    assert_eq!(delays, vec![1.0, 2.0]);
}

#[tokio::test]
async fn max_delay_caps_the_backoff_and_full_jitter_stays_below_it() {
    let tasks = FakeTasks::new(|_, _, _| Err(TaskFailure::new("Retryable", "again")));
    let execution = run(
        one_task(
            json!({"Retry": [{"ErrorEquals": ["Retryable"], "IntervalSeconds": 2,
                                   "BackoffRate": 2.0, "MaxAttempts": 6,
                                   "MaxDelaySeconds": 10, "JitterStrategy": "FULL"}]}),
        ),
        tasks,
        json!({}),
    )
    .await;
    let retries = retries(&execution, "");
    let computed: Vec<f64> = retries.iter().map(|r| r.2).collect();
    assert_eq!(computed, vec![2.0, 4.0, 8.0, 10.0, 10.0, 10.0]);
    for (_, _, computed, delay) in &retries {
        assert!(
            (0.0..=*computed).contains(delay),
            "{delay} outside [0, {computed}]"
        );
    }
    assert!(
        retries.iter().any(|r| r.3 != r.2),
        "FULL jitter should change some delay"
    );
    assert_eq!(task_attempts(&execution, ""), 7);
}

#[tokio::test]
async fn backoff_rate_multiplies_each_interval() {
    let tasks = FakeTasks::new(|_, _, _| Err(TaskFailure::new("E", "")));
    let execution = run(
        one_task(json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 1, "BackoffRate": 3.0, "MaxAttempts": 4}]})),
        tasks,
        json!({}),
    )
    .await;
    let computed: Vec<f64> = retries(&execution, "").iter().map(|r| r.2).collect();
    assert_eq!(computed, vec![1.0, 3.0, 9.0, 27.0]);
}

#[tokio::test]
async fn task_failed_matches_everything_but_timeout() {
    let definition =
        one_task(json!({"Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 1}]}));
    let timeout = FakeTasks::new(|_, _, _| Err(TaskFailure::new("States.Timeout", "")));
    let execution = run(definition.clone(), timeout, json!({})).await;
    assert_eq!(task_attempts(&execution, ""), 1);
    let custom = FakeTasks::new(|_, _, _| Err(TaskFailure::new("Custom", "")));
    let execution = run(definition, custom, json!({})).await;
    assert_eq!(task_attempts(&execution, ""), 2);
}

fn spec_catch_definition() -> Value {
    json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "fn",
              "Catch": [
                  {"ErrorEquals": ["java.lang.Exception"], "ResultPath": "$.error-info", "Next": "RecoveryState"},
                  {"ErrorEquals": ["States.ALL"], "Next": "EndState"}
              ],
              "End": true},
        "RecoveryState": {"Type": "Pass", "End": true},
        "EndState": {"Type": "Pass", "End": true}
    }})
}

#[tokio::test]
async fn spec_catch_merges_the_error_output_at_resultpath() {
    let tasks =
        FakeTasks::new(|_, _, _| Err(TaskFailure::new("java.lang.Exception", "null pointer")));
    let execution = run(spec_catch_definition(), tasks, json!({"order": 7})).await;
    assert_eq!(execution.states_entered(), vec!["T", "RecoveryState"]);
    assert_eq!(
        output(&execution),
        &json!({"order": 7, "error-info": {"Error": "java.lang.Exception", "Cause": "null pointer"}})
    );
    assert!(execution.events_in("").any(|e| matches!(e,
        Event::Caught { catcher: 0, error, next, .. } if error == "java.lang.Exception" && next == "RecoveryState")));
}

#[tokio::test]
async fn spec_catch_without_resultpath_replaces_the_input_with_the_error() {
    let tasks = FakeTasks::new(|_, _, _| Err(TaskFailure::new("Other", "because")));
    let execution = run(spec_catch_definition(), tasks, json!({"order": 7})).await;
    assert_eq!(execution.states_entered(), vec!["T", "EndState"]);
    assert_eq!(
        output(&execution),
        &json!({"Error": "Other", "Cause": "because"})
    );
}

#[tokio::test]
async fn catch_with_null_resultpath_keeps_the_input() {
    let tasks = FakeTasks::new(|_, _, _| Err(TaskFailure::new("Other", "because")));
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "fn",
              "Catch": [{"ErrorEquals": ["Other"], "ResultPath": null, "Next": "After"}], "End": true},
        "After": {"Type": "Pass", "End": true}
    }});
    let execution = run(definition, tasks, json!({"keep": true})).await;
    assert_eq!(output(&execution), &json!({"keep": true}));
}

#[tokio::test]
async fn retries_run_before_catch() {
    let tasks = FakeTasks::new(|_, _, _| Err(TaskFailure::new("Flaky", "still")));
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "fn",
              "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 2}],
              "Catch": [{"ErrorEquals": ["Flaky"], "ResultPath": "$.e", "Next": "After"}], "End": true},
        "After": {"Type": "Pass", "End": true}
    }});
    let execution = run(definition, tasks, json!({})).await;
    assert_eq!(task_attempts(&execution, ""), 3);
    assert_eq!(
        output(&execution),
        &json!({"e": {"Error": "Flaky", "Cause": "still"}})
    );
}

#[tokio::test]
async fn an_uncaught_error_fails_the_execution_with_its_name_and_cause() {
    let tasks = FakeTasks::new(|_, _, _| Err(TaskFailure::new("Internal", "disk full")));
    let execution = run(one_task(json!({})), tasks, json!({})).await;
    assert_eq!(
        execution.status,
        Status::Failed {
            error: "Internal".into(),
            cause: "disk full".into()
        }
    );
    assert!(matches!(
        execution.history.last().unwrap().event,
        Event::ExecutionFailed { .. }
    ));
}
