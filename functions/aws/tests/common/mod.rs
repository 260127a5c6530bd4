//! What the tests against moto share: one moto server on loopback holding the `cfg` and
//! `lake` buckets, an export configuration at `s3://cfg/snapex.toml`, and a state machine,
//! with a [`Context`] whose clients and settings point at them.
// Each test crate compiles this module and uses part of it.
#![allow(dead_code)]

pub mod lambda;

use object_store::path::Path;
use snapex::sink::Destination;
use snapex_aws::{Clients, Context, Settings};
use snapex_tests::{S3Server, fake_aws_env};

/// A state machine that does nothing: for tests that only look at the executions started.
pub const PASS_MACHINE: &str = r#"{"StartAt":"Wait","States":{"Wait":{"Type":"Pass","End":true}}}"#;

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
        fake_aws_env();
        let server = S3Server::start();
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
