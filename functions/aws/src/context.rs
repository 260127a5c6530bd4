//! What every handler needs: the AWS clients and the functions' settings, both read once per
//! Lambda container (at cold start), not per invocation.

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use snapex::service::config::Deployment;
use snapex::service::job::Endpoint;
use snapex::service::restore::DEFAULT_POLL_SECONDS;
use snapex::service::sweep::{DEFAULT_LOOKBACK_HOURS, MAX_LOOKBACK_HOURS};

use crate::error::StepError;

/// The region used when neither the environment nor a profile names one (Lambda always does).
pub const DEFAULT_REGION: &str = "us-east-1";

/// The SDK clients of the steps.
#[derive(Debug, Clone)]
pub struct Clients {
    pub rds: aws_sdk_rds::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Clients {
    /// Clients from the usual AWS configuration (environment, profile, web identity, container
    /// or instance role) with `endpoint` (else `AWS_ENDPOINT_URL` and the per-service
    /// `AWS_ENDPOINT_URL_*`, else AWS) overriding where they connect, as `snapex-glue` does.
    pub async fn connect(endpoint: Option<&str>) -> Clients {
        let region = RegionProviderChain::default_provider().or_else(DEFAULT_REGION);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .retry_config(
                RetryConfig::standard().with_max_attempts(snapex::retry::AWS_CALL_ATTEMPTS),
            );
        if let Some(url) = endpoint {
            loader = loader.endpoint_url(url);
        }
        Clients::from_sdk_config(&loader.load().await)
    }

    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Clients {
        Clients {
            rds: aws_sdk_rds::Client::new(config),
            sfn: aws_sdk_sfn::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
        }
    }
}

/// The functions' settings, from their environment (see `functions/README.md`). The default
/// is what an empty environment gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `SNAPEX_CONFIG`: the export configuration, `s3://bucket/key` (trigger).
    pub config_url: Option<String>,
    /// `SNAPEX_STATE_MACHINE_ARN`: the export state machine (trigger).
    pub state_machine_arn: Option<String>,
    /// `SNAPEX_DB_SUBNET_GROUP`: where temporary instances go (restore); else the default VPC.
    pub db_subnet_group: Option<String>,
    /// `SNAPEX_SECURITY_GROUP_IDS`, comma-separated (restore); else the VPC's default group.
    pub security_group_ids: Vec<String>,
    /// `SNAPEX_POLL_SECONDS`: the wait between readiness checks (restore).
    pub poll_seconds: u32,
    /// `SNAPEX_EXPORT_BUCKET`: the stack's export bucket (trigger): the default destination's
    /// bucket, and the only one a destination may name.
    pub export_bucket: Option<String>,
    /// `SNAPEX_GLUE_DATABASE`: the stack's Glue database (trigger): the default, and the prefix
    /// of every Glue database an export may register in.
    pub glue_database: Option<String>,
    /// `SNAPEX_SWEEP_HOURS`: how far back the scheduled sweep looks for snapshots (trigger).
    pub sweep_hours: u32,
    /// `AWS_ENDPOINT_URL`: for S3 reads through the core's object store (trigger, cleanup).
    pub endpoint_url: Option<String>,
    /// `SNAPEX_TEST_DB_ENDPOINT=host:port`, TEST ONLY: CheckInstance reports this endpoint
    /// instead of the one RDS reports (a fake RDS such as moto reports hostnames that do not
    /// resolve). Logged as a warning whenever it is used.
    pub test_db_endpoint: Option<Endpoint>,
    /// `SNAPEX_CHUNK_MEMORY_MB`: ExportChunk's memory size (plan), for the per-chunk budget.
    pub chunk_memory_mb: Option<u32>,
    /// `SNAPEX_CHUNK_TIMEOUT_SECONDS`: ExportChunk's timeout (plan), for the per-chunk budget.
    pub chunk_timeout_seconds: Option<u32>,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Settings, StepError> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through `var` (the environment, or a map in tests).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Settings, StepError> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let poll_seconds = match var("SNAPEX_POLL_SECONDS") {
            None => DEFAULT_POLL_SECONDS,
            Some(v) => v.trim().parse().map_err(|_| {
                StepError::invalid_input(format!(
                    "SNAPEX_POLL_SECONDS={v:?} is not a number of seconds"
                ))
            })?,
        };
        let sweep_hours = match var("SNAPEX_SWEEP_HOURS") {
            None => DEFAULT_LOOKBACK_HOURS,
            Some(v) => v
                .trim()
                .parse()
                .ok()
                .filter(|h| (1..=MAX_LOOKBACK_HOURS).contains(h))
                .ok_or_else(|| {
                    StepError::invalid_input(format!(
                        "SNAPEX_SWEEP_HOURS={v:?} is not a number of hours from 1 to \
                         {MAX_LOOKBACK_HOURS}"
                    ))
                })?,
        };
        let number = |k: &str, what: &str| -> Result<Option<u32>, StepError> {
            var(k)
                .map(|v| {
                    v.trim().parse().map_err(|_| {
                        StepError::invalid_input(format!("{k}={v:?} is not a number of {what}"))
                    })
                })
                .transpose()
        };
        let chunk_memory_mb = number("SNAPEX_CHUNK_MEMORY_MB", "MB")?;
        let chunk_timeout_seconds = number("SNAPEX_CHUNK_TIMEOUT_SECONDS", "seconds")?;
        let test_db_endpoint = var("SNAPEX_TEST_DB_ENDPOINT")
            .map(|v| parse_endpoint(&v))
            .transpose()?;
        Ok(Settings {
            config_url: var("SNAPEX_CONFIG"),
            state_machine_arn: var("SNAPEX_STATE_MACHINE_ARN"),
            db_subnet_group: var("SNAPEX_DB_SUBNET_GROUP"),
            security_group_ids: var("SNAPEX_SECURITY_GROUP_IDS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            poll_seconds,
            export_bucket: var("SNAPEX_EXPORT_BUCKET"),
            glue_database: var("SNAPEX_GLUE_DATABASE"),
            sweep_hours,
            endpoint_url: var("AWS_ENDPOINT_URL"),
            test_db_endpoint,
            chunk_memory_mb,
            chunk_timeout_seconds,
        })
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            config_url: None,
            state_machine_arn: None,
            db_subnet_group: None,
            security_group_ids: Vec::new(),
            poll_seconds: DEFAULT_POLL_SECONDS,
            export_bucket: None,
            glue_database: None,
            sweep_hours: DEFAULT_LOOKBACK_HOURS,
            chunk_memory_mb: None,
            chunk_timeout_seconds: None,
            endpoint_url: None,
            test_db_endpoint: None,
        }
    }
}

impl Settings {
    /// The deployed stack's defaults and limits, for the export configuration.
    pub fn deployment(&self) -> Deployment {
        Deployment {
            export_bucket: self.export_bucket.clone(),
            glue_database: self.glue_database.clone(),
        }
    }
}

fn parse_endpoint(v: &str) -> Result<Endpoint, StepError> {
    let bad =
        || StepError::invalid_input(format!("SNAPEX_TEST_DB_ENDPOINT={v:?} is not host:port"));
    let (host, port) = v.trim().rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Endpoint {
        host: host.to_string(),
        port,
    })
}

/// A handler's world: clients and settings.
#[derive(Debug, Clone)]
pub struct Context {
    pub clients: Clients,
    pub settings: Settings,
}

impl Context {
    /// Settings from the environment and clients from the usual AWS configuration.
    pub async fn from_env() -> Result<Context, StepError> {
        let settings = Settings::from_env()?;
        let clients = Clients::connect(None).await;
        Ok(Context { clients, settings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, StepError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn settings_come_from_the_environment() {
        let s = settings(&[
            ("SNAPEX_CONFIG", "s3://cfg/snapex.toml"),
            ("SNAPEX_SECURITY_GROUP_IDS", "sg-1, sg-2,"),
            ("SNAPEX_POLL_SECONDS", "1"),
            ("SNAPEX_TEST_DB_ENDPOINT", "127.0.0.1:5432"),
            ("SNAPEX_DB_SUBNET_GROUP", ""),
            ("SNAPEX_EXPORT_BUCKET", "lake"),
            ("SNAPEX_GLUE_DATABASE", "snapex"),
            ("SNAPEX_SWEEP_HOURS", "48"),
            ("SNAPEX_CHUNK_MEMORY_MB", "1024"),
            ("SNAPEX_CHUNK_TIMEOUT_SECONDS", " 900 "),
        ])
        .unwrap();
        assert_eq!(
            s.deployment(),
            Deployment {
                export_bucket: Some("lake".into()),
                glue_database: Some("snapex".into()),
            }
        );
        assert_eq!(s.sweep_hours, 48);
        assert_eq!(s.chunk_memory_mb, Some(1024));
        assert_eq!(s.chunk_timeout_seconds, Some(900));
        assert_eq!(settings(&[]).unwrap().sweep_hours, DEFAULT_LOOKBACK_HOURS);
        assert_eq!(settings(&[]).unwrap().deployment(), Deployment::default());
        assert_eq!(settings(&[]).unwrap(), Settings::default());
        assert_eq!(s.config_url.as_deref(), Some("s3://cfg/snapex.toml"));
        assert_eq!(s.security_group_ids, vec!["sg-1", "sg-2"]);
        assert_eq!(s.poll_seconds, 1);
        assert_eq!(s.db_subnet_group, None);
        assert_eq!(
            s.test_db_endpoint,
            Some(Endpoint {
                host: "127.0.0.1".into(),
                port: 5432
            })
        );
        assert_eq!(settings(&[]).unwrap().poll_seconds, DEFAULT_POLL_SECONDS);
    }

    #[test]
    fn bad_settings_are_input_errors() {
        for (k, v) in [
            ("SNAPEX_POLL_SECONDS", "soon"),
            ("SNAPEX_TEST_DB_ENDPOINT", "localhost"),
            ("SNAPEX_TEST_DB_ENDPOINT", ":5432"),
            ("SNAPEX_SWEEP_HOURS", "0"),
            ("SNAPEX_SWEEP_HOURS", "2161"),
            ("SNAPEX_SWEEP_HOURS", "a day"),
            ("SNAPEX_CHUNK_MEMORY_MB", "3GB"),
            ("SNAPEX_CHUNK_TIMEOUT_SECONDS", "-1"),
        ] {
            let e = settings(&[(k, v)]).unwrap_err();
            assert_eq!(e.name, "InvalidInput");
            assert!(e.message.contains(k), "{e}");
        }
    }
}
