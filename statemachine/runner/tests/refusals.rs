//! Definitions the runner must refuse, each with the construct's name in the error: anything
//! it does not implement, and anything Step Functions would not accept either.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use snapex_asl::{Definition, DefinitionError};

fn refused(definition: Value) -> String {
    match Definition::from_value(&definition) {
        Ok(_) => panic!("accepted: {definition}"),
        Err(e) => e.to_string(),
    }
}

fn with_state(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state, "Next": {"Type": "Succeed"}}})
}

fn task(extra: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": "fn", "Next": "Next"});
    for (k, v) in extra.as_object().unwrap() {
        state[k] = v.clone();
    }
    with_state(state)
}

fn assert_mentions(error: &str, words: &[&str]) {
    for word in words {
        assert!(error.contains(word), "{error:?} should mention {word:?}");
    }
}

#[test]
fn unimplemented_state_types() {
    let error = refused(with_state(
        json!({"Type": "Parallel", "Branches": [], "Next": "Next"}),
    ));
    assert_eq!(error, "unsupported state type \"Parallel\" in state \"S\"");
    assert_mentions(
        &refused(with_state(json!({"Type": "Sleep"}))),
        &["\"Sleep\""],
    );
}

#[test]
fn unimplemented_fields_by_name() {
    assert_eq!(
        refused(task(json!({"HeartbeatSeconds": 60}))),
        "unsupported field \"HeartbeatSeconds\" in state \"S\""
    );
    assert_mentions(
        &refused(task(json!({"Heartbeat": 60}))),
        &["\"Heartbeat\"", "state \"S\""],
    );
    assert_mentions(
        &refused(task(json!({"TimeoutSeconds": 60}))),
        &["\"TimeoutSeconds\""],
    );
    assert_mentions(
        &refused(task(json!({"TimeoutSecondsPath": "$.t"}))),
        &["\"TimeoutSecondsPath\""],
    );
    assert_mentions(
        &refused(task(json!({"Credentials": {}}))),
        &["\"Credentials\""],
    );
    assert_mentions(&refused(task(json!({"Assign": {"x": 1}}))), &["\"Assign\""]);
    assert_mentions(&refused(task(json!({"Arguments": {}}))), &["\"Arguments\""]);
    let mut top = task(json!({}));
    top["TimeoutSeconds"] = json!(3600);
    assert_eq!(
        refused(top),
        "unsupported field \"TimeoutSeconds\" in the definition"
    );
    // A field that belongs to another state type.
    assert_mentions(
        &refused(with_state(
            json!({"Type": "Pass", "Resource": "fn", "Next": "Next"}),
        )),
        &["\"Resource\""],
    );
    assert_mentions(
        &refused(with_state(json!({"Type": "Fail", "InputPath": "$.x"}))),
        &["\"InputPath\""],
    );
    assert_mentions(
        &refused(with_state(json!({"Type": "Succeed", "Next": "Next"}))),
        &["\"Next\""],
    );
}

#[test]
fn unimplemented_intrinsics_by_name() {
    assert_eq!(
        refused(task(
            json!({"Parameters": {"h.$": "States.Hash($.x, 'SHA-1')"}})
        )),
        "unsupported intrinsic function \"States.Hash\" in state \"S\""
    );
    assert_mentions(
        &refused(with_state(json!({"Type": "Fail",
                                   "CausePath": "States.Base64Encode($.x)"}))),
        &["\"States.Base64Encode\""],
    );
    assert_mentions(
        &refused(task(json!({"ResultSelector": {"n.$": "States.Nope()"}}))),
        &["\"States.Nope\""],
    );
}

#[test]
fn unimplemented_values_by_name() {
    assert_mentions(
        &refused(task(json!({"Resource": "arn:aws:states:::lambda:invoke"}))),
        &["\"Resource\"", "arn:aws:states:::lambda:invoke"],
    );
    let mut jsonata = task(json!({}));
    jsonata["QueryLanguage"] = json!("JSONata");
    assert_mentions(&refused(jsonata), &["\"QueryLanguage\"", "JSONata"]);
    assert_mentions(
        &refused(task(
            json!({"Retry": [{"ErrorEquals": ["X"], "JitterStrategy": "HALF"}]}),
        )),
        &["\"JitterStrategy\"", "HALF"],
    );
}

fn distributed_map(reader: Value, extra: Value) -> Value {
    let mut map = json!({
        "Type": "Map",
        "ItemReader": reader,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "W", "States": {"W": {"Type": "Succeed"}}},
        "Next": "Next"
    });
    for (k, v) in extra.as_object().unwrap() {
        map[k] = v.clone();
    }
    with_state(map)
}

fn s3_reader(input_type: &str) -> Value {
    json!({"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": input_type},
           "Parameters": {"Bucket": "b", "Key": "k"}})
}

#[test]
fn unimplemented_map_features() {
    assert!(Definition::from_value(&distributed_map(s3_reader("JSONL"), json!({}))).is_ok());
    assert_mentions(
        &refused(distributed_map(s3_reader("CSV"), json!({}))),
        &["\"InputType\"", "CSV"],
    );
    let mut list = s3_reader("JSON");
    list["Resource"] = json!("arn:aws:states:::s3:listObjectsV2");
    assert_mentions(
        &refused(distributed_map(list, json!({}))),
        &["listObjectsV2"],
    );
    assert_mentions(
        &refused(distributed_map(
            s3_reader("JSON"),
            json!({"ItemBatcher": {"MaxItemsPerBatch": 10}}),
        )),
        &["\"ItemBatcher\""],
    );
    assert_mentions(
        &refused(distributed_map(
            s3_reader("JSON"),
            json!({"ResultWriter": {}}),
        )),
        &["\"ResultWriter\""],
    );
    assert_mentions(
        &refused(distributed_map(s3_reader("JSON"), json!({"Label": "x"}))),
        &["\"Label\""],
    );
    let mut csv_header = s3_reader("JSON");
    csv_header["ReaderConfig"]["CSVHeaderLocation"] = json!("FIRST_ROW");
    assert_mentions(
        &refused(distributed_map(csv_header, json!({}))),
        &["\"CSVHeaderLocation\""],
    );
    // Distributed-only fields on an inline Map.
    let inline = json!({"Type": "Map", "ToleratedFailureCount": 1,
                        "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Succeed"}}},
                        "Next": "Next"});
    assert_mentions(
        &refused(with_state(inline)),
        &["ToleratedFailureCount", "DISTRIBUTED"],
    );
    let mut bad_mode = distributed_map(s3_reader("JSON"), json!({}));
    bad_mode["States"]["S"]["ItemProcessor"]["ProcessorConfig"]["Mode"] = json!("PARALLEL");
    assert_mentions(&refused(bad_mode), &["\"Mode\"", "PARALLEL"]);
}

#[test]
fn unimplemented_constructs_inside_a_map_are_refused_too() {
    let map = json!({"Type": "Map", "Next": "Next", "ItemProcessor": {"StartAt": "W", "States": {
        "W": {"Type": "Task", "Resource": "fn", "HeartbeatSeconds": 5, "End": true}}}});
    assert_eq!(
        refused(with_state(map)),
        "unsupported field \"HeartbeatSeconds\" in state \"W\" (in the ItemProcessor of state \"S\")"
    );
}

#[test]
fn broken_transitions() {
    assert_mentions(
        &refused(json!({"StartAt": "Nope", "States": {"S": {"Type": "Succeed"}}})),
        &["\"Nope\"", "StartAt"],
    );
    assert_mentions(
        &refused(json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "Next": "Missing"}}})),
        &["\"Missing\"", "state \"S\""],
    );
    assert_mentions(
        &refused(task(
            json!({"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}]}),
        )),
        &["\"Gone\""],
    );
    assert_mentions(
        &refused(
            json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "Next": "T", "End": true},
                                                   "T": {"Type": "Succeed"}}}),
        ),
        &["Next", "End"],
    );
    assert_mentions(
        &refused(json!({"StartAt": "S", "States": {"S": {"Type": "Pass"}}})),
        &["Next", "End"],
    );
    assert_eq!(
        refused(
            json!({"StartAt": "S", "States": {"S": {"Type": "Succeed"}, "Island": {"Type": "Succeed"}}})
        ),
        "state \"Island\" cannot be reached from StartAt"
    );
    assert_mentions(
        &refused(
            json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
            {"Variable": "$.x", "IsNull": true, "Next": "Elsewhere"}]}}}),
        ),
        &["\"Elsewhere\""],
    );
}

#[test]
fn malformed_fields() {
    assert_mentions(
        &refused(task(json!({"ResultPath": "$.a[*]"}))),
        &["reference path"],
    );
    assert_mentions(&refused(task(json!({"InputPath": "nope"}))), &["InputPath"]);
    assert_mentions(&refused(task(json!({"Parameters": {"x.$": 5}}))), &["x.$"]);
    assert_mentions(
        &refused(task(
            json!({"Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}),
        )),
        &["States.ALL", "last"],
    );
    assert_mentions(
        &refused(task(
            json!({"Catch": [{"ErrorEquals": ["States.ALL", "X"], "Next": "Next"}]}),
        )),
        &["States.ALL", "alone"],
    );
    assert_mentions(
        &refused(with_state(
            json!({"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "Next": "Next"}),
        )),
        &["exactly one"],
    );
    assert_mentions(
        &refused(with_state(
            json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}),
        )),
        &["Error", "ErrorPath"],
    );
    assert_mentions(
        &refused(with_state(json!({"Type": "Choice", "Choices": [
            {"Variable": "$.x", "StringEquals": "a", "Next": "Next"}], "Next": "Next"}))),
        &["\"Next\""],
    );
    assert_mentions(
        &refused(with_state(json!({"Type": "Choice", "Choices": [
            {"Variable": "$.x", "StringEqualsIgnoreCase": "a", "Next": "Next"}]}))),
        &["StringEqualsIgnoreCase"],
    );
}

#[test]
fn substitutions_are_bound_or_refused() {
    let text =
        r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "${Fn}", "End": true}}}"#;
    let error = Definition::parse(text, &BTreeMap::new()).unwrap_err();
    assert_eq!(error, DefinitionError::UnboundSubstitution("Fn".into()));
    assert_eq!(error.to_string(), "unbound substitution \"${Fn}\"");
    let bound = BTreeMap::from([("Fn".to_owned(), "my-function".to_owned())]);
    assert_eq!(Definition::parse(text, &bound).unwrap().start_at(), "T");
    assert!(matches!(
        Definition::parse("{not json", &bound),
        Err(DefinitionError::Json(_))
    ));
}

#[test]
fn comments_are_allowed_everywhere() {
    let definition = json!({
        "Comment": "top", "StartAt": "T", "Version": "1.0",
        "States": {
            "T": {"Type": "Task", "Comment": "task", "Resource": "fn", "Next": "C",
                  "Retry": [{"Comment": "retrier", "ErrorEquals": ["X"]}],
                  "Catch": [{"Comment": "catcher", "ErrorEquals": ["Y"], "Next": "C"}]},
            "C": {"Type": "Choice", "Comment": "choice",
                  "Choices": [{"Comment": "rule", "Variable": "$.x", "IsPresent": true, "Next": "M"}],
                  "Default": "M"},
            "M": {"Type": "Map", "Comment": "map", "End": true,
                  "ItemProcessor": {"Comment": "processor", "StartAt": "P",
                                    "ProcessorConfig": {"Mode": "INLINE"},
                                    "States": {"P": {"Type": "Pass", "Comment": "pass", "End": true}}}}
        }
    });
    let parsed = Definition::from_value(&definition).unwrap();
    assert_eq!(parsed.comment(), Some("top"));
    assert_eq!(parsed.state_names(), vec!["C", "M", "T"]);
}
