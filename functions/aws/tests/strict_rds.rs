//! The strict RDS the other tests run on (`tests/aws/strict_rds.py`, a hook inside moto's
//! process), checked through the same SDK client the functions use: instances and clusters
//! pass through RDS's states over Describe polls, as many as the hook's argument says, and
//! the calls RDS refuses in a state are refused with RDS's error code and HTTP status.

use aws_sdk_rds::Client;
use aws_sdk_rds::config::http::HttpResponse;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::operation::create_db_cluster_snapshot::builders::CreateDBClusterSnapshotFluentBuilder;
use aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder;
use aws_sdk_rds::operation::create_db_snapshot::builders::CreateDBSnapshotFluentBuilder;
use aws_sdk_rds::operation::delete_db_cluster::builders::DeleteDBClusterFluentBuilder;
use aws_sdk_rds::operation::delete_db_instance::builders::DeleteDBInstanceFluentBuilder;
use aws_sdk_rds::operation::modify_db_cluster::builders::ModifyDBClusterFluentBuilder;
use aws_sdk_rds::operation::modify_db_instance::builders::ModifyDBInstanceFluentBuilder;
use snapex_aws::Clients;
use snapex_tests::{S3Server, fake_aws_env};
mod common;
use common::{STRICT_RDS, poll_cluster, poll_instance};

/// moto with the strict RDS hook given `hook`, and an RDS client of it.
async fn strict_rds(hook: &str) -> (S3Server, Client) {
    fake_aws_env();
    let server = S3Server::start_strict(&[hook]);
    let clients = Clients::connect(Some(&server.endpoint)).await;
    (server, clients.rds)
}

/// The error code and HTTP status of a refused call.
fn refusal<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, SdkError<E, HttpResponse>>,
) -> (String, u16) {
    let e = result.expect_err("RDS refuses this call");
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (e.code().unwrap_or_default().to_string(), status)
}

fn state_fault(code: &str) -> (String, u16) {
    (code.to_string(), 400)
}

async fn create_instance(rds: &Client, id: &str) -> String {
    rds.create_db_instance()
        .db_instance_identifier(id)
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("postgres")
        .master_user_password("original-password")
        .send()
        .await
        .unwrap()
        .db_instance()
        .and_then(|i| i.db_instance_status())
        .unwrap()
        .to_string()
}

async fn create_cluster(rds: &Client, id: &str) -> String {
    rds.create_db_cluster()
        .db_cluster_identifier(id)
        .engine("aurora-postgresql")
        .master_username("postgres")
        .master_user_password("original-password")
        .send()
        .await
        .unwrap()
        .db_cluster()
        .and_then(|c| c.status())
        .unwrap()
        .to_string()
}

/// Deletes the instance `id`, without a final snapshot.
fn delete_instance(rds: &Client, id: &str) -> DeleteDBInstanceFluentBuilder {
    rds.delete_db_instance()
        .db_instance_identifier(id)
        .skip_final_snapshot(true)
}

/// Deletes the cluster `id`, without a final snapshot.
fn delete_cluster(rds: &Client, id: &str) -> DeleteDBClusterFluentBuilder {
    rds.delete_db_cluster()
        .db_cluster_identifier(id)
        .skip_final_snapshot(true)
}

/// Gives the instance `id` a new master password, at once.
fn new_instance_password(rds: &Client, id: &str) -> ModifyDBInstanceFluentBuilder {
    rds.modify_db_instance()
        .db_instance_identifier(id)
        .master_user_password("the-new-password")
        .apply_immediately(true)
}

/// Gives the cluster `id` a new master password, at once.
fn new_cluster_password(rds: &Client, id: &str) -> ModifyDBClusterFluentBuilder {
    rds.modify_db_cluster()
        .db_cluster_identifier(id)
        .master_user_password("the-new-password")
        .apply_immediately(true)
}

/// A snapshot `id` of the instance `instance`.
fn instance_snapshot(rds: &Client, instance: &str, id: &str) -> CreateDBSnapshotFluentBuilder {
    rds.create_db_snapshot()
        .db_instance_identifier(instance)
        .db_snapshot_identifier(id)
}

/// A snapshot `id` of the cluster `cluster`.
fn cluster_snapshot(rds: &Client, cluster: &str, id: &str) -> CreateDBClusterSnapshotFluentBuilder {
    rds.create_db_cluster_snapshot()
        .db_cluster_identifier(cluster)
        .db_cluster_snapshot_identifier(id)
}

/// An Aurora instance `id` in the cluster `cluster`.
fn cluster_instance(rds: &Client, id: &str, cluster: &str) -> CreateDBInstanceFluentBuilder {
    rds.create_db_instance()
        .db_instance_identifier(id)
        .db_cluster_identifier(cluster)
        .engine("aurora-postgresql")
        .db_instance_class("db.r6g.large")
}

async fn create_cluster_instance(rds: &Client, id: &str, cluster: &str) -> String {
    cluster_instance(rds, id, cluster)
        .send()
        .await
        .unwrap()
        .db_instance()
        .and_then(|i| i.db_instance_status())
        .unwrap()
        .to_string()
}

/// `status`, `n` times.
fn times(status: &str, n: usize) -> Vec<String> {
    vec![status.to_string(); n]
}

fn statuses(parts: &[(&str, usize)]) -> Vec<String> {
    parts.iter().flat_map(|(s, n)| times(s, *n)).collect()
}

#[tokio::test]
async fn instances_pass_through_rds_states_poll_by_poll() {
    let (_server, rds) = strict_rds(STRICT_RDS).await;

    assert_eq!(create_instance(&rds, "source").await, "creating");
    assert_eq!(
        poll_instance(&rds, "source", Some("available")).await,
        statuses(&[("creating", 2), ("backing-up", 2)])
    );
    instance_snapshot(&rds, "source", "source-1")
        .send()
        .await
        .unwrap();

    // A restore without automated backups, and one keeping the snapshot's (one day).
    for (id, retention, seen) in [
        (
            "copy",
            Some(0),
            statuses(&[("creating", 2), ("modifying", 2)]),
        ),
        (
            "backed-up-copy",
            None,
            statuses(&[("creating", 2), ("modifying", 2), ("backing-up", 2)]),
        ),
    ] {
        let restored = rds
            .restore_db_instance_from_db_snapshot()
            .db_instance_identifier(id)
            .db_snapshot_identifier("source-1")
            .set_backup_retention_period(retention)
            .send()
            .await
            .unwrap();
        let restored = restored.db_instance().unwrap();
        assert_eq!(restored.db_instance_status(), Some("creating"));
        assert_eq!(
            poll_instance(&rds, id, Some("available")).await,
            seen,
            "{id}"
        );
        let found = snapex_aws::rds::describe::describe_instance(&rds, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            found.backup_retention_period(),
            Some(retention.unwrap_or(1)),
            "{id}"
        );
    }

    // A new master password: pending, and `resetting-master-credentials`, for two polls.
    let modified = new_instance_password(&rds, "copy").send().await.unwrap();
    let modified = modified.db_instance().unwrap();
    assert_eq!(
        modified.db_instance_status(),
        Some("resetting-master-credentials")
    );
    let pending = |i: &aws_sdk_rds::types::DbInstance| {
        i.pending_modified_values()
            .and_then(|p| p.master_user_password())
            .map(String::from)
    };
    assert_eq!(pending(modified).as_deref(), Some("****"));
    let mut seen = vec![];
    for _ in 0..3 {
        let i = snapex_aws::rds::describe::describe_instance(&rds, "copy")
            .await
            .unwrap()
            .unwrap();
        seen.push((i.db_instance_status().unwrap().to_string(), pending(&i)));
    }
    let resetting = (
        "resetting-master-credentials".to_string(),
        Some("****".to_string()),
    );
    assert_eq!(
        seen,
        [resetting.clone(), resetting, ("available".into(), None)]
    );

    // Any other change: `modifying`.
    rds.modify_db_instance()
        .db_instance_identifier("copy")
        .backup_retention_period(3)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        poll_instance(&rds, "copy", Some("available")).await,
        times("modifying", 2)
    );

    // Deleting, then gone.
    let deleted = delete_instance(&rds, "copy").send().await.unwrap();
    assert_eq!(
        deleted.db_instance().and_then(|i| i.db_instance_status()),
        Some("deleting")
    );
    assert_eq!(
        poll_instance(&rds, "copy", None).await,
        times("deleting", 2)
    );
}

#[tokio::test]
async fn clusters_pass_through_rds_states_and_go_with_their_instances() {
    let (_server, rds) = strict_rds(STRICT_RDS).await;
    assert_eq!(create_cluster(&rds, "source").await, "creating");
    assert_eq!(
        poll_cluster(&rds, "source", Some("available")).await,
        times("creating", 2)
    );
    cluster_snapshot(&rds, "source", "source-1")
        .send()
        .await
        .unwrap();
    let restored = rds
        .restore_db_cluster_from_snapshot()
        .db_cluster_identifier("copy")
        .snapshot_identifier("source-1")
        .engine("aurora-postgresql")
        .backup_retention_period(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        restored.db_cluster().and_then(|c| c.status()),
        Some("creating")
    );
    assert_eq!(
        poll_cluster(&rds, "copy", Some("available")).await,
        times("creating", 2)
    );
    assert_eq!(
        create_cluster_instance(&rds, "copy-1", "copy").await,
        "creating"
    );
    assert_eq!(
        poll_instance(&rds, "copy-1", Some("available")).await,
        times("creating", 2)
    );

    let modified = new_cluster_password(&rds, "copy").send().await.unwrap();
    let modified = modified.db_cluster().unwrap();
    assert_eq!(modified.status(), Some("resetting-master-credentials"));
    assert_eq!(
        modified
            .pending_modified_values()
            .and_then(|p| p.master_user_password()),
        Some("****")
    );
    assert_eq!(
        poll_cluster(&rds, "copy", Some("available")).await,
        times("resetting-master-credentials", 2)
    );

    // The cluster can be deleted once its instance is being deleted; it goes with it.
    delete_instance(&rds, "copy-1").send().await.unwrap();
    let deleted = delete_cluster(&rds, "copy").send().await.unwrap();
    assert_eq!(
        deleted.db_cluster().and_then(|c| c.status()),
        Some("deleting")
    );
    assert_eq!(poll_cluster(&rds, "copy", None).await, times("deleting", 2));
    assert!(
        snapex_aws::rds::describe::describe_instance(&rds, "copy-1")
            .await
            .unwrap()
            .is_none(),
        "the cluster's instance is gone with it"
    );
}

#[tokio::test]
async fn calls_rds_refuses_in_a_state_are_refused_with_its_codes() {
    let (_server, rds) = strict_rds(STRICT_RDS).await;
    create_instance(&rds, "db").await;
    create_cluster(&rds, "cluster").await;

    // Both are `creating`.
    let into_cluster = cluster_instance(&rds, "cluster-1", "cluster").send().await;
    assert_eq!(
        refusal(into_cluster),
        state_fault("InvalidDBClusterStateFault")
    );
    let modify_instance = new_instance_password(&rds, "db").send().await;
    assert_eq!(
        refusal(modify_instance),
        state_fault("InvalidDBInstanceState")
    );
    let modify_cluster = new_cluster_password(&rds, "cluster").send().await;
    assert_eq!(
        refusal(modify_cluster),
        state_fault("InvalidDBClusterStateFault")
    );
    let snapshot = instance_snapshot(&rds, "db", "db-1").send().await;
    assert_eq!(refusal(snapshot), state_fault("InvalidDBInstanceState"));
    let of_cluster = cluster_snapshot(&rds, "cluster", "cluster-snap")
        .send()
        .await;
    assert_eq!(
        refusal(of_cluster),
        state_fault("InvalidDBClusterStateFault")
    );

    // Available, with an instance that is not being deleted: the cluster stays.
    poll_cluster(&rds, "cluster", Some("available")).await;
    create_cluster_instance(&rds, "cluster-1", "cluster").await;
    let deleting_cluster = delete_cluster(&rds, "cluster").send().await;
    assert_eq!(
        refusal(deleting_cluster),
        state_fault("InvalidDBClusterStateFault")
    );

    // Deleting twice.
    let delete = || delete_instance(&rds, "db").send();
    delete().await.unwrap();
    assert_eq!(
        refusal(delete().await),
        state_fault("InvalidDBInstanceState")
    );

    // A restore into a cluster that exists (moto itself would replace it), and an Aurora
    // cluster without automated backups (Aurora keeps at least one day).
    poll_cluster(&rds, "cluster", Some("available")).await;
    cluster_snapshot(&rds, "cluster", "cluster-snap")
        .send()
        .await
        .unwrap();
    let restore = |id: &str, retention: Option<i32>| {
        rds.restore_db_cluster_from_snapshot()
            .db_cluster_identifier(id)
            .snapshot_identifier("cluster-snap")
            .engine("aurora-postgresql")
            .set_backup_retention_period(retention)
            .send()
    };
    assert_eq!(
        refusal(restore("cluster", None).await),
        state_fault("DBClusterAlreadyExistsFault")
    );
    assert_eq!(
        refusal(restore("copy", Some(0)).await),
        state_fault("InvalidParameterValue")
    );

    // What is gone is not found (404), as RDS answers.
    let gone = rds
        .describe_db_instances()
        .db_instance_identifier("no-such-db")
        .send()
        .await;
    assert_eq!(refusal(gone), ("DBInstanceNotFound".to_string(), 404));
}

#[tokio::test]
async fn each_state_lasts_as_many_polls_as_the_argument_says() {
    let (_server, rds) = strict_rds("strict_rds.py=polls:1,creating:5,backing-up:0").await;
    create_instance(&rds, "db").await;
    assert_eq!(
        poll_instance(&rds, "db", Some("available")).await,
        times("creating", 5)
    );
    create_cluster(&rds, "cluster").await;
    assert_eq!(
        poll_cluster(&rds, "cluster", Some("available")).await,
        times("creating", 5)
    );
    new_cluster_password(&rds, "cluster").send().await.unwrap();
    assert_eq!(
        poll_cluster(&rds, "cluster", Some("available")).await,
        times("resetting-master-credentials", 1)
    );
}
