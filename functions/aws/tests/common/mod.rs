//! What the tests against moto share: one moto server on loopback, strict about RDS's lifecycle
//! (`tests/aws/strict_rds.py`), holding the `cfg` and `lake` buckets, an export configuration at
//! `s3://cfg/snapex.toml`, and a state machine, with a [`Context`] whose clients and settings
//! point at them; and polling RDS until a resource reaches a status, as a client of RDS must.
// Each test crate compiles this module and uses part of it.
#![allow(dead_code)]

pub mod lambda;
pub mod setup;
pub mod strict;

use std::sync::{Arc, Mutex};

use aws_sdk_rds::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_rds::config::{ConfigBag, Intercept};
use object_store::path::Path;
use snapex::sink::Destination;
use snapex_aws::{Clients, Context, Settings};
use snapex_tests::{S3Server, fake_aws_env};

/// A state machine that does nothing: for tests that only look at the executions started.
pub const PASS_MACHINE: &str = r#"{"StartAt":"Wait","States":{"Wait":{"Type":"Pass","End":true}}}"#;

/// RDS as strict as AWS: instances and clusters pass through their states (two Describe polls
/// each) before they are available, and calls RDS refuses in a state are refused.
pub const STRICT_RDS: &str = "strict_rds.py=polls:2";

/// Describe polls after which a test gives up waiting for a status.
const MAX_POLLS: usize = 200;

pub struct Moto {
    pub server: S3Server,
    pub ctx: Context,
}

impl Moto {
    /// moto with `config` as the export configuration and a state machine that does nothing.
    pub async fn start(config: &str) -> Moto {
        Moto::with_machine(config, PASS_MACHINE).await
    }

    /// moto with `config` as the export configuration and `definition` as the state machine.
    pub async fn with_machine(config: &str, definition: &str) -> Moto {
        Moto::with_hooks(config, definition, &[STRICT_RDS]).await
    }

    /// As [`Moto::with_machine`], with moto's `hooks` (`FILE=ARGUMENT` of `tests/aws/`).
    pub async fn with_hooks(config: &str, definition: &str, hooks: &[&str]) -> Moto {
        fake_aws_env();
        let server = S3Server::start_strict(hooks);
        server.create_bucket("cfg");
        server.create_bucket("lake");
        let cfg = Destination::open("s3://cfg", Some(&server.endpoint)).unwrap();
        cfg.put(&Path::from("snapex.toml"), config.as_bytes().to_vec())
            .await
            .unwrap();
        let clients = Clients::connect(Some(&server.endpoint)).await;
        let machine = clients
            .sfn
            .create_state_machine()
            .name("snapex-export")
            .definition(definition)
            .role_arn("arn:aws:iam::123456789012:role/snapex-export")
            .send()
            .await
            .unwrap()
            .state_machine_arn()
            .to_string();
        let settings = Settings {
            config_url: Some("s3://cfg/snapex.toml".into()),
            state_machine_arn: Some(machine),
            poll_seconds: 1,
            endpoint_url: Some(server.endpoint.clone()),
            ..Settings::default()
        };
        Moto {
            server,
            ctx: Context { clients, settings },
        }
    }
}

/// Polls DescribeDBInstances until the instance `id` is `until` (`None`: until it is gone), as
/// a client of RDS waits; the statuses seen before, one per poll.
pub async fn poll_instance(
    rds: &aws_sdk_rds::Client,
    id: &str,
    until: Option<&str>,
) -> Vec<String> {
    poll(id, until, || async {
        let found = snapex_aws::rds::describe::describe_instance(rds, id)
            .await
            .unwrap();
        found.map(|i| i.db_instance_status().unwrap_or_default().to_string())
    })
    .await
}

/// Polls DescribeDBClusters until the cluster `id` is `until` (`None`: until it is gone); the
/// statuses seen before, one per poll.
pub async fn poll_cluster(rds: &aws_sdk_rds::Client, id: &str, until: Option<&str>) -> Vec<String> {
    poll(id, until, || async {
        let found = snapex_aws::rds::describe::describe_cluster(rds, id)
            .await
            .unwrap();
        found.map(|c| c.status().unwrap_or_default().to_string())
    })
    .await
}

async fn poll<F, Fut>(id: &str, until: Option<&str>, status: F) -> Vec<String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let mut seen = vec![];
    for _ in 0..MAX_POLLS {
        let now = status().await;
        if now.as_deref() == until {
            return seen;
        }
        seen.push(now.unwrap_or_else(|| "(gone)".into()));
    }
    panic!("{id} is not {until:?} after {MAX_POLLS} polls: {seen:?}")
}

/// An RDS call that makes or changes a temporary instance or cluster, as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdsCall {
    RestoreDbInstance {
        instance: String,
        backup_retention: Option<i32>,
    },
    RestoreDbCluster {
        cluster: String,
        backup_retention: Option<i32>,
    },
    CreateDbInstance {
        instance: String,
        cluster: Option<String>,
    },
    ModifyDbInstance {
        instance: String,
        password: Option<String>,
    },
    ModifyDbCluster {
        cluster: String,
        password: Option<String>,
    },
}

/// Records the [`RdsCall`]s of the clients it is given to, in the order they are sent (an SDK
/// interceptor: what the functions really send, attempts that RDS refuses included).
#[derive(Debug, Clone, Default)]
pub struct RdsCalls(Arc<Mutex<Vec<RdsCall>>>);

impl RdsCalls {
    /// `rds` with its calls recorded here.
    pub fn record(&self, rds: &aws_sdk_rds::Client) -> aws_sdk_rds::Client {
        let config = rds.config().to_builder().interceptor(self.clone()).build();
        aws_sdk_rds::Client::from_conf(config)
    }

    pub fn calls(&self) -> Vec<RdsCall> {
        self.0.lock().unwrap().clone()
    }
}

impl Intercept for RdsCalls {
    fn name(&self) -> &'static str {
        "RdsCalls"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        use aws_sdk_rds::operation::{
            create_db_instance::CreateDbInstanceInput, modify_db_cluster::ModifyDbClusterInput,
            modify_db_instance::ModifyDbInstanceInput,
            restore_db_cluster_from_snapshot::RestoreDbClusterFromSnapshotInput,
            restore_db_instance_from_db_snapshot::RestoreDbInstanceFromDbSnapshotInput,
        };
        let input = context.input();
        let text = |s: Option<&str>| s.unwrap_or_default().to_string();
        let call = if let Some(i) = input.downcast_ref::<RestoreDbInstanceFromDbSnapshotInput>() {
            RdsCall::RestoreDbInstance {
                instance: text(i.db_instance_identifier()),
                backup_retention: i.backup_retention_period(),
            }
        } else if let Some(i) = input.downcast_ref::<RestoreDbClusterFromSnapshotInput>() {
            RdsCall::RestoreDbCluster {
                cluster: text(i.db_cluster_identifier()),
                backup_retention: i.backup_retention_period(),
            }
        } else if let Some(i) = input.downcast_ref::<CreateDbInstanceInput>() {
            RdsCall::CreateDbInstance {
                instance: text(i.db_instance_identifier()),
                cluster: i.db_cluster_identifier().map(String::from),
            }
        } else if let Some(i) = input.downcast_ref::<ModifyDbInstanceInput>() {
            RdsCall::ModifyDbInstance {
                instance: text(i.db_instance_identifier()),
                password: i.master_user_password().map(String::from),
            }
        } else if let Some(i) = input.downcast_ref::<ModifyDbClusterInput>() {
            RdsCall::ModifyDbCluster {
                cluster: text(i.db_cluster_identifier()),
                password: i.master_user_password().map(String::from),
            }
        } else {
            return Ok(());
        };
        self.0.lock().unwrap().push(call);
        Ok(())
    }
}
