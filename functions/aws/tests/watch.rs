//! The scheduled watch against moto's RDS on loopback (strict about RDS's lifecycle): of the DB
//! instances and clusters of the account, it counts the temporary ones Snapex made (named
//! `snapex-*` and tagged `snapex:export`), a cluster together with its instance once, and
//! reports their number and the oldest one's age.

use aws_sdk_rds::types::Tag;
use snapex::service::naming::EXPORT_TAG;
use snapex_aws::steps::watch;
use snapex_aws::{Clients, Context, Settings};
use snapex_tests::{S3Server, fake_aws_env};
mod common;
use common::{STRICT_RDS, poll_cluster};

fn export_tag(export_id: &str) -> Tag {
    Tag::builder().key(EXPORT_TAG).value(export_id).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_counts_only_the_temporary_instances() {
    fake_aws_env();
    let server = S3Server::start_strict(&[STRICT_RDS]);
    let clients = Clients::connect(Some(&server.endpoint)).await;
    let ctx = Context {
        clients,
        settings: Settings::default(),
    };
    let rds = &ctx.clients.rds;

    // Nothing at all: zeros, not nothing.
    let none = watch::handle(serde_json::json!({}), &ctx).await.unwrap();
    assert_eq!(
        (none.alive, none.oldest_age_minutes, none.oldest),
        (0, 0, None)
    );

    let instance = |id: &str, tag: Option<&str>| {
        let mut call = rds
            .create_db_instance()
            .db_instance_identifier(id)
            .engine("postgres")
            .db_instance_class("db.t4g.micro")
            .allocated_storage(20)
            .master_username("postgres")
            .master_user_password("original-password");
        if let Some(export_id) = tag {
            call = call.tags(export_tag(export_id));
        }
        call.send()
    };
    // Temporary: named and tagged as Restore makes them.
    instance(
        "snapex-orders-db-1234abcd",
        Some("orders-db-20261201T031000Z"),
    )
    .await
    .unwrap();
    // Someone else's, each missing one of the two marks.
    instance("snapex-prod", None).await.unwrap();
    instance("orders-db", Some("orders-db-20261201T031000Z"))
        .await
        .unwrap();
    // A temporary cluster with its instance (counted once), and one left without its instance.
    for cluster in [
        "snapex-billing-aaaa1111-cluster",
        "snapex-billing-bbbb2222-cluster",
    ] {
        rds.create_db_cluster()
            .db_cluster_identifier(cluster)
            .engine("aurora-postgresql")
            .master_username("postgres")
            .master_user_password("original-password")
            .tags(export_tag("billing-20261201T031000Z"))
            .send()
            .await
            .unwrap();
    }
    // RDS adds instances only to an available cluster.
    poll_cluster(rds, "snapex-billing-aaaa1111-cluster", Some("available")).await;
    rds.create_db_instance()
        .db_instance_identifier("snapex-billing-aaaa1111")
        .db_cluster_identifier("snapex-billing-aaaa1111-cluster")
        .engine("aurora-postgresql")
        .db_instance_class("db.t4g.medium")
        .tags(export_tag("billing-20261201T031000Z"))
        .send()
        .await
        .unwrap();

    let seen = watch::handle(serde_json::json!({"source": "aws.events"}), &ctx)
        .await
        .unwrap();
    assert_eq!(seen.alive, 3, "{seen:?}");
    // All made just now: the oldest is the first by name among equals.
    assert_eq!(seen.oldest_age_minutes, 0, "{seen:?}");
    assert_eq!(
        seen.oldest.as_deref(),
        Some("snapex-billing-aaaa1111"),
        "{seen:?}"
    );
}
