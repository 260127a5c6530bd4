//! Every state type the runner accepts, the context object, intrinsic functions in a state,
//! and inline and distributed Maps.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use snapex_asl::{Event, RunOptions, Runner, TaskFailure};

fn spec_choice() -> Value {
    json!({"StartAt": "ChoiceStateX", "States": {
        "ChoiceStateX": {"Type": "Choice", "Choices": [
            {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
            {"And": [
                {"Variable": "$.value", "IsPresent": true},
                {"Variable": "$.value", "IsNumeric": true},
                {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                {"Variable": "$.value", "NumericLessThan": 30}
            ], "Next": "ValueInTwenties"},
            {"Variable": "$.rating", "NumericGreaterThanPath": "$.auditThreshold", "Next": "StartAudit"}
        ], "Default": "RecordEvent"},
        "Public": {"Type": "Succeed"},
        "ValueInTwenties": {"Type": "Succeed"},
        "StartAudit": {"Type": "Succeed"},
        "RecordEvent": {"Type": "Succeed"}
    }})
}

#[tokio::test]
async fn spec_choice_picks_the_first_matching_rule_or_default() {
    let cases = [
        (json!({"type": "Public"}), "Public"),
        (json!({"type": "Private", "value": 25}), "ValueInTwenties"),
        (
            json!({"type": "Private", "value": 35, "rating": 53, "auditThreshold": 50}),
            "StartAudit",
        ),
        (
            json!({"type": "Private", "value": 35, "rating": 40, "auditThreshold": 50}),
            "RecordEvent",
        ),
    ];
    for (input, expected) in cases {
        let execution = run_without_tasks(spec_choice(), input.clone()).await;
        assert_eq!(
            execution.states_entered(),
            vec!["ChoiceStateX", expected],
            "{input}"
        );
        assert_eq!(output(&execution), &input);
    }
}

#[tokio::test]
async fn choice_without_a_match_or_default_fails_with_no_choice_matched() {
    let definition = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "BooleanEquals": true, "Next": "Y"}]},
        "Y": {"Type": "Succeed"}
    }});
    let execution = run_without_tasks(definition, json!({"x": false})).await;
    assert_eq!(execution.failure().unwrap().0, "States.NoChoiceMatched");
}

#[tokio::test]
async fn choice_applies_inputpath_and_outputpath() {
    let definition = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "InputPath": "$.inner", "OutputPath": "$.keep",
              "Choices": [{"Variable": "$.flag", "StringEquals": "yes", "Next": "Y"}]},
        "Y": {"Type": "Succeed"}
    }});
    let execution =
        run_without_tasks(definition, json!({"inner": {"flag": "yes", "keep": 5}})).await;
    assert_eq!(output(&execution), &json!(5));
}

fn wait_seconds(execution: &snapex_asl::Execution) -> Vec<f64> {
    execution
        .events_in("")
        .filter_map(|e| match e {
            Event::WaitStarted { seconds, .. } => Some(*seconds),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn wait_seconds_secondspath_timestamp_timestamppath() {
    let wait = |field: Value| {
        let mut state = json!({"Type": "Wait", "Next": "Done"});
        for (k, v) in field.as_object().unwrap() {
            state[k] = v.clone();
        }
        json!({"StartAt": "W", "States": {"W": state, "Done": {"Type": "Succeed"}}})
    };
    let future = (chrono::Utc::now() + chrono::Duration::seconds(3600)).to_rfc3339();
    let input = json!({"expiryseconds": 42, "expirydate": future});
    let e = run_without_tasks(wait(json!({"Seconds": 10})), input.clone()).await;
    assert_eq!(wait_seconds(&e), vec![10.0]);
    assert_eq!(output(&e), &input);
    let e = run_without_tasks(
        wait(json!({"SecondsPath": "$.expiryseconds"})),
        input.clone(),
    )
    .await;
    assert_eq!(wait_seconds(&e), vec![42.0]);
    let e = run_without_tasks(
        wait(json!({"Timestamp": "2016-03-14T01:59:00Z"})),
        input.clone(),
    )
    .await;
    assert_eq!(
        wait_seconds(&e),
        vec![0.0],
        "a past timestamp does not wait"
    );
    let e = run_without_tasks(
        wait(json!({"TimestampPath": "$.expirydate"})),
        input.clone(),
    )
    .await;
    let seconds = wait_seconds(&e)[0];
    assert!((3590.0..=3600.0).contains(&seconds), "{seconds}");
    let e = run_without_tasks(wait(json!({"SecondsPath": "$.expirydate"})), input).await;
    assert_eq!(e.failure().unwrap().0, "States.Runtime");
}

#[tokio::test]
async fn wait_sleeps_for_real_when_scaled() {
    let definition = definition(json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 1, "End": true}}}));
    let options = RunOptions {
        delay_scale: 0.05,
        ..options()
    };
    let runner = Runner::new(
        definition,
        FakeTasks::new(|_, _, _| unreachable!()),
        Arc::new(snapex_asl::NoItems),
        options,
    );
    let started = std::time::Instant::now();
    runner.run(json!({})).await;
    assert!(
        started.elapsed() >= Duration::from_millis(45),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn fail_with_literal_error_and_cause() {
    let definition = json!({"StartAt": "F", "States": {
        "F": {"Type": "Fail", "Error": "ErrorA", "Cause": "Kaiju attack"}}});
    let execution = run_without_tasks(definition, json!({})).await;
    assert_eq!(execution.failure(), Some(("ErrorA", "Kaiju attack")));
}

#[tokio::test]
async fn fail_with_errorpath_and_an_intrinsic_causepath() {
    let definition = json!({"StartAt": "F", "States": {
        "F": {"Type": "Fail", "ErrorPath": "$.Error",
              "CausePath": "States.Format('This is a custom error message for {}, caused by {}.', $.Error, $.Cause)"}}});
    let execution =
        run_without_tasks(definition, json!({"Error": "MyError", "Cause": "a bug"})).await;
    assert_eq!(
        execution.failure(),
        Some((
            "MyError",
            "This is a custom error message for MyError, caused by a bug."
        ))
    );
    let definition = json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "$.n"}}});
    let execution = run_without_tasks(definition, json!({"n": 3})).await;
    assert_eq!(execution.failure().unwrap().0, "States.Runtime");
}

#[tokio::test]
async fn succeed_applies_outputpath() {
    let definition =
        json!({"StartAt": "S", "States": {"S": {"Type": "Succeed", "OutputPath": "$.result"}}});
    let execution = run_without_tasks(definition, json!({"result": {"rows": 3}, "other": 1})).await;
    assert_eq!(output(&execution), &json!({"rows": 3}));
}

#[tokio::test]
async fn pass_parameters_with_intrinsics_and_the_context_object() {
    let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {
        "greeting.$": "States.Format('Hello, my name is {}.', $.name)",
        "parsed.$": "States.StringToJson($.json)",
        "text.$": "States.JsonToString($.obj)",
        "array.$": "States.Array('Foo', 2020, $.obj, null)",
        "length.$": "States.ArrayLength($.list)",
        "sum.$": "States.MathAdd($.n, -1)",
        "id.$": "States.UUID()",
        "execution.$": "$$.Execution.Name",
        "executionId.$": "$$.Execution.Id",
        "input.$": "$$.Execution.Input.name",
        "machine.$": "$$.StateMachine.Name",
        "state.$": "$$.State.Name",
        "entered.$": "$$.State.EnteredTime",
        "started.$": "$$.Execution.StartTime"
    }, "End": true}}});
    let execution = run_without_tasks(
        definition,
        json!({"name": "Arnav", "json": "{\"number\": 20}", "obj": {"a": 1}, "list": [1, 2, 3], "n": 111}),
    )
    .await;
    let out = output(&execution);
    assert_eq!(out["greeting"], json!("Hello, my name is Arnav."));
    assert_eq!(out["parsed"], json!({"number": 20}));
    assert_eq!(out["text"], json!("{\"a\":1}"));
    assert_eq!(out["array"], json!(["Foo", 2020, {"a": 1}, null]));
    assert_eq!(out["length"], json!(3));
    assert_eq!(out["sum"], json!(110));
    assert_eq!(out["id"].as_str().unwrap().len(), 36);
    assert_eq!(out["execution"], json!("test-execution"));
    assert_eq!(
        out["executionId"],
        json!("arn:aws:states:local:000000000000:execution:TestMachine:test-execution")
    );
    assert_eq!(out["input"], json!("Arnav"));
    assert_eq!(out["machine"], json!("TestMachine"));
    assert_eq!(out["state"], json!("P"));
    for time in [&out["entered"], &out["started"]] {
        assert!(
            chrono::DateTime::parse_from_rfc3339(time.as_str().unwrap()).is_ok(),
            "{time}"
        );
    }
}

#[tokio::test]
async fn history_records_states_in_order() {
    let definition = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "B"},
        "B": {"Type": "Task", "Resource": "fn", "ResultPath": "$.b", "End": true}
    }});
    let execution = run(
        definition,
        FakeTasks::new(|_, _, _| Ok(json!(2))),
        json!({}),
    )
    .await;
    let events: Vec<&Event> = execution.events_in("").collect();
    assert_eq!(events[0], &Event::ExecutionStarted { input: json!({}) });
    assert_eq!(
        events[1],
        &Event::StateEntered {
            state: "A".into(),
            input: json!({})
        }
    );
    assert_eq!(
        events[2],
        &Event::StateExited {
            state: "A".into(),
            output: json!({"a": 1})
        }
    );
    assert_eq!(
        events[3],
        &Event::StateEntered {
            state: "B".into(),
            input: json!({"a": 1})
        }
    );
    assert_eq!(
        events[4],
        &Event::TaskScheduled {
            state: "B".into(),
            resource: "fn".into(),
            input: json!({"a": 1}),
            attempt: 1
        }
    );
    assert_eq!(
        events[5],
        &Event::TaskSucceeded {
            state: "B".into(),
            resource: "fn".into(),
            output: json!(2),
            attempt: 1
        }
    );
    assert_eq!(
        events[6],
        &Event::StateExited {
            state: "B".into(),
            output: json!({"a": 1, "b": 2})
        }
    );
    assert_eq!(
        events[7],
        &Event::ExecutionSucceeded {
            output: json!({"a": 1, "b": 2})
        }
    );
}

#[tokio::test]
async fn a_loop_is_cut_by_the_transition_limit() {
    let definition = definition(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}));
    let options = RunOptions {
        max_state_transitions: 50,
        ..options()
    };
    let runner = Runner::new(
        definition,
        FakeTasks::new(|_, _, _| unreachable!()),
        Arc::new(snapex_asl::NoItems),
        options,
    );
    let execution = runner.run(json!({})).await;
    assert_eq!(execution.failure().unwrap().0, "States.Runtime");
    assert_eq!(execution.states_entered().len(), 50);
}

fn guide_inline_map() -> Value {
    json!({"StartAt": "Validate-All", "States": {"Validate-All": {
        "Type": "Map",
        "InputPath": "$.detail",
        "ItemsPath": "$.shipped",
        "MaxConcurrency": 0,
        "ItemSelector": {"parcel.$": "$$.Map.Item.Value", "courier.$": "$.delivery-partner",
                         "index.$": "$$.Map.Item.Index"},
        "ItemProcessor": {"StartAt": "Validate", "States": {
            "Validate": {"Type": "Task", "Resource": "validate", "End": true}}},
        "ResultPath": "$.detail.shipped",
        "End": true
    }}})
}

fn shipment() -> Value {
    json!({"ship-date": "2016-03-14T01:59:00Z",
           "detail": {"delivery-partner": "UQS", "shipped": [
               {"prod": "R31", "dest-code": 9511, "quantity": 1344},
               {"prod": "S39", "dest-code": 9511, "quantity": 40},
               {"prod": "R31", "dest-code": 9833, "quantity": 12},
               {"prod": "R40", "dest-code": 9860, "quantity": 887},
               {"prod": "R40", "dest-code": 9511, "quantity": 1220}]}})
}

#[tokio::test]
async fn guide_inline_map_with_itemselector_and_resultpath() {
    let tasks = FakeTasks::new(|_, input, _| {
        Ok(json!({"ok": input["parcel"]["prod"], "by": input["courier"], "at": input["index"]}))
    });
    let execution = run(guide_inline_map(), tasks.clone(), shipment()).await;
    let calls = tasks.calls_to("validate");
    assert_eq!(calls.len(), 5);
    assert!(calls.contains(
        &json!({"parcel": {"prod": "S39", "dest-code": 9511, "quantity": 40},
                                    "courier": "UQS", "index": 1})
    ));
    let out = output(&execution);
    assert_eq!(out["ship-date"], json!("2016-03-14T01:59:00Z"));
    assert_eq!(
        out["detail"]["shipped"],
        json!([{"ok": "R31", "by": "UQS", "at": 0}, {"ok": "S39", "by": "UQS", "at": 1},
               {"ok": "R31", "by": "UQS", "at": 2}, {"ok": "R40", "by": "UQS", "at": 3},
               {"ok": "R40", "by": "UQS", "at": 4}])
    );
    assert_eq!(out["detail"]["delivery-partner"], json!("UQS"));
    assert!(
        execution
            .events_in("Validate-All[3]")
            .any(|e| matches!(e, Event::TaskSucceeded { .. }))
    );
}

#[tokio::test]
async fn inline_map_fails_with_the_iterations_error_and_can_be_caught() {
    let tasks = FakeTasks::new(|_, input, _| {
        if input["index"] == json!(2) {
            Err(TaskFailure::new("BadParcel", "dest-code 9833 is closed"))
        } else {
            Ok(json!("ok"))
        }
    });
    let execution = run(guide_inline_map(), tasks.clone(), shipment()).await;
    assert_eq!(
        execution.failure(),
        Some(("BadParcel", "dest-code 9833 is closed"))
    );

    let mut caught = guide_inline_map();
    let map = &mut caught["States"]["Validate-All"];
    map["Catch"] =
        json!([{"ErrorEquals": ["BadParcel"], "ResultPath": "$.problem", "Next": "Report"}]);
    caught["States"]["Report"] = json!({"Type": "Pass", "End": true});
    let execution = run(caught, tasks, shipment()).await;
    assert_eq!(
        output(&execution)["problem"],
        json!({"Error": "BadParcel", "Cause": "dest-code 9833 is closed"})
    );
}

#[tokio::test]
async fn inline_map_max_concurrency_limits_iterations_in_flight() {
    let mut definition = guide_inline_map();
    definition["States"]["Validate-All"]["MaxConcurrency"] = json!(2);
    let tasks = FakeTasks::pausing(Duration::from_millis(5), |_, _, _| Ok(json!(1)));
    let execution = run(definition, tasks.clone(), shipment()).await;
    output(&execution);
    assert_eq!(
        tasks
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );

    let tasks = FakeTasks::pausing(Duration::from_millis(5), |_, _, _| Ok(json!(1)));
    run(guide_inline_map(), tasks.clone(), shipment()).await;
    assert_eq!(
        tasks
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        5,
        "0 = no limit"
    );
}

#[tokio::test]
async fn legacy_iterator_and_parameters_names_and_nested_maps() {
    let definition = json!({"StartAt": "Outer", "States": {"Outer": {
        "Type": "Map", "ItemsPath": "$.rows",
        "Parameters": {"row.$": "$$.Map.Item.Value"},
        "Iterator": {"StartAt": "Inner", "States": {"Inner": {
            "Type": "Map", "ItemsPath": "$.row",
            "Iterator": {"StartAt": "Double", "States": {"Double": {
                "Type": "Task", "Resource": "double", "End": true}}},
            "End": true}}},
        "End": true}}});
    let tasks = FakeTasks::new(|_, input, _| Ok(json!(input.as_i64().unwrap() * 2)));
    let execution = run(definition, tasks, json!({"rows": [[1, 2], [3]]})).await;
    assert_eq!(output(&execution), &json!([[2, 4], [6]]));
    assert!(execution.events_in("Outer[0]/Inner[1]").any(|e| matches!(e,
        Event::TaskSucceeded { output, .. } if output == &json!(4))));
}

#[tokio::test]
async fn map_items_must_be_an_array() {
    let execution = run_without_tasks(guide_inline_map(), json!({"detail": {"shipped": 3}})).await;
    assert_eq!(execution.failure().unwrap().0, "States.Runtime");
}

#[tokio::test]
async fn map_resultselector_and_retry_rerun_the_whole_map() {
    let definition = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map",
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fn", "End": true}}},
        "ResultSelector": {"count.$": "States.ArrayLength($)"},
        "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 1}],
        "End": true}}});
    let tasks = FakeTasks::new(|_, _, n| {
        if n == 1 {
            Err(TaskFailure::new("Flaky", ""))
        } else {
            Ok(json!(n))
        }
    });
    let execution = run(definition, tasks.clone(), json!([10, 20, 30])).await;
    assert_eq!(output(&execution), &json!({"count": 3}));
    assert_eq!(retries(&execution, "").len(), 1);
    // The first attempt stopped at the failure; the retry ran every item again.
    let calls = tasks.calls_to("fn");
    let mut last_three: Vec<i64> = calls[calls.len() - 3..]
        .iter()
        .map(|c| c.as_i64().unwrap())
        .collect();
    last_three.sort();
    assert_eq!(last_three, vec![10, 20, 30]);
    assert!(execution.events_in("").any(|e| matches!(e,
        Event::MapFailed { error, .. } if error == "Flaky")));
}

// Distributed Map

fn distributed(extra: Value) -> Value {
    let mut map = json!({
        "Type": "Map",
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                       "ReaderConfig": {"InputType": "JSONL"},
                       "Parameters": {"Bucket.$": "$.bucket", "Key": "items.jsonl"}},
        "ItemSelector": {"item.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index",
                         "tag.$": "$.tag"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Work", "States": {"Work": {
                              "Type": "Task", "Resource": "work",
                              "Parameters": {"n.$": "$.item.n", "tag.$": "$.tag",
                                             "child.$": "$$.Execution.Name"},
                              "End": true}}},
        "End": true
    });
    for (k, v) in extra.as_object().unwrap() {
        map[k] = v.clone();
    }
    json!({"StartAt": "Fan", "States": {"Fan": map}})
}

fn bucket(items: usize, json_array: bool) -> Arc<FakeBucket> {
    let mut bucket = FakeBucket::default();
    let values: Vec<Value> = (0..items).map(|n| json!({"n": n})).collect();
    let body = if json_array {
        serde_json::to_vec(&values).unwrap()
    } else {
        values
            .iter()
            .map(|v| format!("{v}\n"))
            .collect::<String>()
            .into_bytes()
    };
    let key = if json_array {
        "b/items.json"
    } else {
        "b/items.jsonl"
    };
    bucket.objects.insert(key.into(), body);
    Arc::new(bucket)
}

async fn run_distributed(
    definition_json: Value,
    tasks: Arc<FakeTasks>,
    items: Arc<FakeBucket>,
    input: Value,
) -> snapex_asl::Execution {
    Runner::new(definition(definition_json), tasks, items, options())
        .run(input)
        .await
}

fn failing_items(bad: &'static [u64]) -> Arc<FakeTasks> {
    FakeTasks::new(move |_, input, _| {
        let n = input["n"].as_u64().unwrap();
        if bad.contains(&n) {
            Err(TaskFailure::new("ItemFailed", format!("item {n}")))
        } else {
            Ok(json!(n * 10))
        }
    })
}

#[tokio::test]
async fn distributed_map_reads_jsonl_items_and_runs_child_executions() {
    let tasks = FakeTasks::pausing(Duration::from_millis(2), |_, input, _| Ok(input.clone()));
    let items = bucket(12, false);
    let execution = run_distributed(
        distributed(json!({"MaxConcurrencyPath": "$.limit"})),
        tasks.clone(),
        items.clone(),
        json!({"bucket": "b", "tag": "t1", "limit": 3}),
    )
    .await;
    assert_eq!(items.reads.lock().unwrap().as_slice(), ["b/items.jsonl"]);
    let out = output(&execution).as_array().unwrap().clone();
    assert_eq!(out.len(), 12);
    assert_eq!(
        out[5],
        json!({"n": 5, "tag": "t1", "child": "test-execution:5"})
    );
    assert_eq!(
        tasks
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    assert!(execution.events_in("").any(|e| matches!(
        e,
        Event::MapStarted {
            items: 12,
            max_concurrency: 3,
            ..
        }
    )));
}

#[tokio::test]
async fn distributed_map_reads_a_json_array_and_max_items() {
    let mut definition = distributed(json!({}));
    definition["States"]["Fan"]["ItemReader"]["ReaderConfig"] =
        json!({"InputType": "JSON", "MaxItems": 4});
    definition["States"]["Fan"]["ItemReader"]["Parameters"]["Key"] = json!("items.json");
    let execution = run_distributed(
        definition,
        failing_items(&[]),
        bucket(10, true),
        json!({"bucket": "b", "tag": "x"}),
    )
    .await;
    assert_eq!(output(&execution), &json!([0, 10, 20, 30]));
}

#[tokio::test]
async fn distributed_map_without_tolerance_fails_on_the_first_failure() {
    let execution = run_distributed(
        distributed(json!({"ToleratedFailurePercentage": 0})),
        failing_items(&[7]),
        bucket(10, false),
        json!({"bucket": "b", "tag": "x"}),
    )
    .await;
    assert_eq!(
        execution.failure(),
        Some((
            "States.ExceedToleratedFailureThreshold",
            "The specified tolerated failure threshold was exceeded"
        ))
    );
    assert!(execution.events_in("").any(|e| matches!(e,
        Event::MapIterationFailed { index: 7, error, .. } if error == "ItemFailed")));
}

#[tokio::test]
async fn distributed_map_tolerated_failure_count() {
    let definition = distributed(json!({"ToleratedFailureCount": 2}));
    let execution = run_distributed(
        definition.clone(),
        failing_items(&[1, 4]),
        bucket(6, false),
        json!({"bucket": "b", "tag": "x"}),
    )
    .await;
    assert_eq!(
        output(&execution),
        &json!([0, {"Error": "ItemFailed", "Cause": "item 1"}, 20, 30,
                {"Error": "ItemFailed", "Cause": "item 4"}, 50])
    );
    let execution = run_distributed(
        definition,
        failing_items(&[1, 4, 5]),
        bucket(6, false),
        json!({"bucket": "b", "tag": "x"}),
    )
    .await;
    assert_eq!(
        execution.failure().unwrap().0,
        "States.ExceedToleratedFailureThreshold"
    );
}

#[tokio::test]
async fn distributed_map_tolerated_failure_percentage_and_its_path() {
    let definition = distributed(json!({"ToleratedFailurePercentagePath": "$.pct"}));
    let input = json!({"bucket": "b", "tag": "x", "pct": 20});
    // 2 of 10 is 20%: tolerated; 3 of 10 is not.
    let execution = run_distributed(
        definition.clone(),
        failing_items(&[0, 9]),
        bucket(10, false),
        input.clone(),
    )
    .await;
    assert_eq!(output(&execution).as_array().unwrap().len(), 10);
    let execution = run_distributed(
        definition,
        failing_items(&[0, 5, 9]),
        bucket(10, false),
        input,
    )
    .await;
    assert_eq!(
        execution.failure().unwrap().0,
        "States.ExceedToleratedFailureThreshold"
    );
}

#[tokio::test]
async fn distributed_map_children_retry_on_their_own() {
    let mut definition = distributed(json!({}));
    definition["States"]["Fan"]["ItemProcessor"]["States"]["Work"]["Retry"] =
        json!([{"ErrorEquals": ["Retryable"], "IntervalSeconds": 2, "MaxAttempts": 3}]);
    let flaky = Arc::new(std::sync::Mutex::new(0));
    let flaky_tasks = {
        let flaky = flaky.clone();
        FakeTasks::new(move |_, input, _| {
            if input["n"] == json!(3) {
                let mut failures = flaky.lock().unwrap();
                if *failures < 2 {
                    *failures += 1;
                    return Err(TaskFailure::new("Retryable", "throttled"));
                }
            }
            Ok(input["n"].clone())
        })
    };
    let execution = run_distributed(
        definition,
        flaky_tasks,
        bucket(5, false),
        json!({"bucket": "b", "tag": "x"}),
    )
    .await;
    assert_eq!(output(&execution), &json!([0, 1, 2, 3, 4]));
    let computed: Vec<f64> = retries(&execution, "Fan[3]").iter().map(|r| r.2).collect();
    assert_eq!(computed, vec![2.0, 4.0]);
    assert!(retries(&execution, "Fan[2]").is_empty());
}

#[tokio::test]
async fn a_failed_item_read_is_item_reader_failed() {
    let execution = run_distributed(
        distributed(json!({})),
        failing_items(&[]),
        bucket(3, false),
        json!({"bucket": "other", "tag": "x"}),
    )
    .await;
    let (error, cause) = execution.failure().unwrap();
    assert_eq!(error, "States.ItemReaderFailed");
    assert!(cause.contains("NoSuchKey"), "{cause}");
    let mut bad = FakeBucket::default();
    bad.objects
        .insert("b/items.jsonl".into(), b"{\"n\": 1}\nnot json\n".to_vec());
    let execution = run_distributed(
        distributed(json!({})),
        failing_items(&[]),
        Arc::new(bad),
        json!({"bucket": "b", "tag": "x"}),
    )
    .await;
    let (error, cause) = execution.failure().unwrap();
    assert_eq!(error, "States.ItemReaderFailed");
    assert!(cause.contains("line 2"), "{cause}");
}
