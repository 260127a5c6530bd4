//! Bad input to the serverless steps, against moto's RDS, Step Functions, Secrets Manager and S3
//! on loopback: events that are not JSON objects, miss fields or announce something else; an
//! export configuration that cannot be read; a snapshot that does not exist. Each fails with a
//! fixed error name and a one-line message that says what is wrong (or, for an event that is
//! simply not a new snapshot, is ignored with a reason), and none starts an execution,
//! restores an instance or makes a secret.

use serde_json::{Value, json};
use snapex_aws::StepError;
use snapex_aws::steps::trigger::Answer;
use snapex_aws::steps::{restore, trigger};
mod common;
use common::Moto;
use common::setup::{fixture, start_input};

const CONFIG: &str = r#"
destination = "s3://lake/exports"

[[database]]
source = "orders-db"
database = "shop"
"#;

impl Moto {
    /// Nothing was started or made: no execution, no DB instance or cluster, no secret.
    async fn assert_nothing_started(&self) {
        let c = &self.ctx.clients;
        let executions = self.executions_listed().await;
        assert!(executions.is_empty(), "{executions:?}");
        let instances = c.rds.describe_db_instances().send().await.unwrap();
        assert!(instances.db_instances().is_empty(), "{instances:?}");
        let clusters = c.rds.describe_db_clusters().send().await.unwrap();
        assert!(clusters.db_clusters().is_empty(), "{clusters:?}");
        let secrets = c.secrets.list_secrets().send().await.unwrap();
        assert!(secrets.secret_list().is_empty(), "{secrets:?}");
    }
}

/// A step error's name, and a one-line message holding each of `says`.
fn assert_step_error(e: &StepError, name: &str, says: &[&str]) {
    assert_eq!(e.name, name, "{e}");
    assert_eq!(e.message.lines().count(), 1, "{e}");
    for s in says {
        assert!(e.message.contains(s), "the message should say {s:?}: {e}");
    }
}

#[tokio::test]
async fn malformed_events_are_invalid_input_and_start_nothing() {
    let moto = Moto::start(CONFIG).await;
    let mut no_identifier = fixture("db-snapshot-manual-created.json");
    no_identifier["detail"]
        .as_object_mut()
        .unwrap()
        .remove("SourceIdentifier");
    let mut no_arn = fixture("cluster-snapshot-manual-created.json");
    no_arn["detail"]
        .as_object_mut()
        .unwrap()
        .remove("SourceArn");
    no_arn["resources"] = json!([]);
    let mut bad_time = fixture("db-snapshot-automated-created.json");
    bad_time["time"] = json!("yesterday");
    let mut detail_not_an_object = fixture("db-snapshot-manual-created.json");
    detail_not_an_object["detail"] = json!("Manual snapshot created");
    let mut event_id_a_number = fixture("db-snapshot-manual-created.json");
    event_id_a_number["detail"]["EventID"] = json!(42);
    let mut no_source = fixture("db-snapshot-manual-created.json");
    no_source.as_object_mut().unwrap().remove("source");

    for (what, event, says) in [
        (
            "a string",
            json!("RDS-EVENT-0042"),
            &[
                "not an EventBridge event (it is a string, not a JSON object)",
                "the trigger takes RDS snapshot events",
            ][..],
        ),
        (
            "an array",
            json!([fixture("db-snapshot-manual-created.json")]),
            &["not an EventBridge event (it is an array, not a JSON object)"][..],
        ),
        (
            "null",
            Value::Null,
            &["not an EventBridge event (it is null, not a JSON object)"][..],
        ),
        (
            "an object of something else",
            json!({"Records": [{"eventSource": "aws:s3"}]}),
            &["not an EventBridge event", "missing field `detail-type`"][..],
        ),
        (
            "an event without its source",
            no_source,
            &["not an EventBridge event", "missing field `source`"][..],
        ),
        (
            "a snapshot event without SourceIdentifier",
            no_identifier,
            &["RDS DB Snapshot Event: no detail.SourceIdentifier"][..],
        ),
        (
            "a cluster snapshot event without an ARN",
            no_arn,
            &["RDS DB Cluster Snapshot Event: no detail.SourceArn or resources"][..],
        ),
        (
            "a snapshot event with a time that is not one",
            bad_time,
            &[
                "RDS DB Snapshot Event: time \"yesterday\" is not an RFC 3339 time such as 2026-03-14T09:26:53Z",
            ][..],
        ),
        (
            "a snapshot event whose detail is a string",
            detail_not_an_object,
            &["RDS DB Snapshot Event: detail: invalid type: string"][..],
        ),
        (
            "a snapshot event whose EventID is a number",
            event_id_a_number,
            &["RDS DB Snapshot Event: detail: invalid type: integer `42`"][..],
        ),
    ] {
        let e = trigger::handle(event, &moto.ctx).await.expect_err(what);
        let mut all = vec!["event: "];
        all.extend_from_slice(says);
        assert_step_error(&e, "InvalidInput", &all);
        assert!(e.message.starts_with("event: "), "{what}: {e}");
    }
    moto.assert_nothing_started().await;
}

#[tokio::test]
async fn events_of_other_kinds_are_ignored_with_a_reason_and_start_nothing() {
    let moto = Moto::start(CONFIG).await;
    let mut unknown_id = fixture("db-snapshot-manual-created.json");
    unknown_id["detail"]["EventID"] = json!("RDS-EVENT-9999");
    let mut wrong_pair = fixture("cluster-snapshot-manual-created.json");
    // A DB snapshot's event id on a cluster snapshot event: not a cluster snapshot created.
    wrong_pair["detail"]["EventID"] = json!("RDS-EVENT-0042");
    for (event, reason) in [
        (
            fixture("db-instance-event.json"),
            "not an RDS snapshot event: aws.rds \"RDS DB Instance Event\"",
        ),
        (
            fixture("db-snapshot-deleted.json"),
            "RDS DB Snapshot Event RDS-EVENT-0041 does not announce a new snapshot",
        ),
        (
            fixture("cluster-snapshot-creating.json"),
            "RDS DB Cluster Snapshot Event RDS-EVENT-0168 does not announce a new snapshot",
        ),
        (
            unknown_id,
            "RDS DB Snapshot Event RDS-EVENT-9999 does not announce a new snapshot",
        ),
        (
            wrong_pair,
            "RDS DB Cluster Snapshot Event RDS-EVENT-0042 does not announce a new snapshot",
        ),
    ] {
        let out = trigger::handle(event, &moto.ctx).await.unwrap();
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({"started": false, "reason": reason})
        );
    }
    moto.assert_nothing_started().await;
}

#[tokio::test]
async fn a_malformed_export_configuration_is_invalid_input() {
    // A snapshot event the trigger would act on, were the configuration readable.
    let event = fixture("db-snapshot-manual-created.json");
    for (config, says) in [
        (
            "destination = \"s3://lake/exports\"\n[[database]\nsource = \"orders-db\"\n",
            &["line 2: unclosed array table, expected `]`"][..],
        ),
        (
            "destinaton = \"s3://lake/exports\"\n",
            &["line 1: unknown field `destinaton`", "`destination`"][..],
        ),
        (
            "destination = \"s3://lake/exports\"\n[[database]]\nsource = \"orders-db\"\ndatabase = \"shop\"\nmax_concurrency = \"eight\"\n",
            &["line 5: invalid type: string \"eight\", expected usize"][..],
        ),
        (
            "[[database]]\nsource = \"orders-db\"\ndatabase = \"shop\"\n",
            &[
                "[[database]] #1 (\"orders-db\")",
                "no destination: set destination at the top or in the entry",
            ][..],
        ),
        (
            "destination = \"/var/lake\"\n[[database]]\nsource = \"orders-db\"\ndatabase = \"shop\"\n",
            &["destination \"/var/lake\" must be s3://bucket[/prefix]"][..],
        ),
    ] {
        let moto = Moto::start(config).await;
        let e = trigger::handle(event.clone(), &moto.ctx)
            .await
            .expect_err(config);
        let mut all = vec!["export configuration s3://cfg/snapex.toml: "];
        all.extend_from_slice(says);
        assert_step_error(&e, "InvalidInput", &all);
        moto.assert_nothing_started().await;
    }
}

#[tokio::test]
async fn a_missing_export_configuration_is_invalid_input() {
    let mut moto = Moto::start(CONFIG).await;
    moto.ctx.settings.config_url = Some("s3://cfg/no-such.toml".into());
    let e = trigger::handle(fixture("db-snapshot-manual-created.json"), &moto.ctx)
        .await
        .unwrap_err();
    assert_step_error(
        &e,
        "InvalidInput",
        &[
            "export configuration s3://cfg/no-such.toml: no such file: put the export configuration there, or point SNAPEX_CONFIG at it",
        ],
    );

    moto.ctx.settings.config_url = None;
    let e = trigger::handle(fixture("db-snapshot-manual-created.json"), &moto.ctx)
        .await
        .unwrap_err();
    assert_step_error(
        &e,
        "InvalidInput",
        &["SNAPEX_CONFIG is not set: it names the export configuration"],
    );
    moto.assert_nothing_started().await;
}

#[tokio::test]
async fn an_unknown_snapshot_is_invalid_input_and_restores_nothing() {
    let moto = Moto::start(CONFIG).await;
    // Announced, but not in RDS (deleted since, or the event was made up).
    let event = fixture("db-snapshot-manual-created.json");
    let e = trigger::handle(event.clone(), &moto.ctx).await.unwrap_err();
    assert_step_error(
        &e,
        "InvalidInput",
        &["reading snapshot orders-db-before-upgrade: no such snapshot (deleted since its event?)"],
    );

    // Restore given a job for it (as a replayed execution would be).
    let input = start_input(CONFIG, &event, "orders-db");
    let e = restore::handle(input.clone(), &moto.ctx).await.unwrap_err();
    assert_step_error(
        &e,
        "InvalidInput",
        &["reading snapshot orders-db-before-upgrade: no such snapshot (deleted since its event?)"],
    );

    // The same for a cluster snapshot.
    let event = fixture("cluster-snapshot-manual-created.json");
    let e = trigger::handle(event, &moto.ctx).await.unwrap_err();
    assert_step_error(
        &e,
        "InvalidInput",
        &["reading snapshot billing-cluster-month-end: no such snapshot"],
    );
    moto.assert_nothing_started().await;
}

#[tokio::test]
async fn an_export_the_deployed_policies_would_refuse_is_refused_before_anything_starts() {
    let entry = "[[database]]\nsource = \"orders-db\"\ndatabase = \"shop\"\n";
    for (settings, says) in [
        (
            "destination = \"s3://elsewhere/exports\"\n",
            "orders-db: destination s3://elsewhere/exports is outside the export bucket lake \
             (SNAPEX_EXPORT_BUCKET), the only one the functions may write",
        ),
        (
            "glue_database = \"analytics\"\n",
            "orders-db: Glue database \"analytics\" does not start with the stack's Glue \
             database \"snapex\" (SNAPEX_GLUE_DATABASE), so the stack's functions may not register in it",
        ),
    ] {
        let mut moto = Moto::start(&format!("{settings}{entry}")).await;
        moto.ctx.settings.export_bucket = Some("lake".into());
        moto.ctx.settings.glue_database = Some("snapex".into());
        let event = moto
            .instance_snapshot_event("orders-db", "orders-db-manual-1")
            .await;

        let e = trigger::handle(event, &moto.ctx).await.unwrap_err();
        assert_step_error(&e, "InvalidInput", &[says]);
        // The sweep refuses it too, and says so in its answer.
        let swept = trigger::handle_invocation(fixture("scheduled-event.json"), &moto.ctx)
            .await
            .unwrap();
        let Answer::Sweep(swept) = swept else {
            panic!("not a sweep: {swept:?}")
        };
        // Both of orders-db's snapshots: the one made with the instance, and ours.
        assert_eq!(swept.refused.len(), 2, "{swept:?}");
        let ours = format!("snapshot orders-db-manual-1: {}", e.message);
        assert!(swept.refused.contains(&ours), "{swept:?}");
        assert!(swept.started.is_empty());

        // Nothing started: no execution, no instance but the source, no secret.
        let c = &moto.ctx.clients;
        assert!(moto.executions_listed().await.is_empty(), "{settings}");
        assert_eq!(common::setup::instance_ids(&c.rds).await, ["orders-db"]);
        let secrets = c.secrets.list_secrets().send().await.unwrap();
        assert!(secrets.secret_list().is_empty());
    }
}
