//! Strict IAM for the tests: each function of `template.yaml` calls moto with credentials of
//! its own, and moto (through `tests/aws/strict_iam.py`) refuses what the function's deployed
//! policy would refuse, as AWS does, and logs it.
//!
//! [`StrictIam::prepare`] resolves the template for the tests' stack (`tests/aws/
//! resolve_template.py`: SAM's own translator, every intrinsic resolved for [`ACCOUNT`],
//! [`REGION`], [`STACK`] and the given parameters), gives each function and the state machine's
//! role a distinct access key, and writes the hook's configuration. Then:
//!
//! ```text
//! let iam = StrictIam::prepare(&StrictIam::template(), &[("ExportBucketName", "lake"), ...]);
//! let server = S3Server::start_strict(&[&iam.hook()]);
//! // each function runs with iam.function("snapex-plan").process_env(&server.endpoint)
//! // the state machine's runner asks iam.check(&server.endpoint, STATE_MACHINE, action, arn)
//! iam.assert_no_denials();
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

/// The account, region and stack name the tests' template is resolved for (moto's default
/// account).
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const STACK: &str = "snapex";
/// The principal name of the state machine's role, for [`StrictIam::check`].
pub const STATE_MACHINE: &str = "state-machine";

/// An access key moto's strict IAM knows (the secret is not checked: moto does not verify
/// signatures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Credentials {
    fn for_principal(name: &str) -> Credentials {
        let id: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        Credentials {
            access_key_id: format!("AKIA{id}"),
            secret_access_key: format!("strict-{name}"),
        }
    }
}

/// One `AWS::Serverless::Function` of the template as deployed.
#[derive(Debug, Clone)]
pub struct Function {
    /// Its `BuildProperties.Binary` (`snapex-restore`, ...), which names it here.
    pub binary: String,
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    pub timeout_seconds: u64,
    pub memory_mb: u64,
    /// Its environment variables, Globals included.
    pub environment: BTreeMap<String, String>,
    pub credentials: Credentials,
}

impl Function {
    /// The environment a Lambda process of this function has, against `endpoint`: the
    /// template's variables, its own credentials and the region.
    pub fn process_env(&self, endpoint: &str) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", self.credentials.access_key_id.as_str()),
            (
                "AWS_SECRET_ACCESS_KEY",
                self.credentials.secret_access_key.as_str(),
            ),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_LAMBDA_FUNCTION_NAME", self.name.as_str()),
        ] {
            env.push((k.to_string(), v.to_string()));
        }
        env.push((
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            self.memory_mb.to_string(),
        ));
        env
    }
}

/// The template's state machine as deployed.
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub name: String,
    pub arn: String,
    /// The role's credentials (its ItemReader reads S3 with them).
    pub credentials: Credentials,
    /// `DefinitionSubstitutions`, resolved (the functions' ARNs).
    pub definition_substitutions: BTreeMap<String, String>,
}

/// One call strict IAM refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    /// The function's binary name, or [`STATE_MACHINE`].
    pub principal: String,
    /// The API operation (`RestoreDBInstanceFromDBSnapshot`, ...).
    pub operation: String,
    pub action: String,
    pub resource: String,
    pub context: Value,
    pub message: String,
}

/// The template resolved for the tests' stack, and the hook configuration that enforces it.
#[derive(Debug, Clone)]
pub struct StrictIam {
    pub functions: BTreeMap<String, Function>,
    pub state_machine: StateMachine,
    /// Every parameter, defaults included, as resolved.
    pub parameters: BTreeMap<String, Value>,
    config: PathBuf,
    denials_log: PathBuf,
    calls_log: PathBuf,
}

impl StrictIam {
    /// The repository's `template.yaml`.
    pub fn template() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
    }

    /// Resolves `template` with `params` (list parameters comma-separated) for [`STACK`] in
    /// [`ACCOUNT`] and [`REGION`], and writes the hook's configuration to a fresh folder.
    pub fn prepare(template: &Path, params: &[(&str, &str)]) -> StrictIam {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/aws/resolve_template.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(template).args([
            "--stack",
            STACK,
            "--account",
            ACCOUNT,
            "--region",
            REGION,
        ]);
        for (k, v) in params {
            cmd.arg("--param").arg(format!("{k}={v}"));
        }
        let out = cmd.output().expect("running python3");
        assert!(
            out.status.success(),
            "resolving {} failed (it needs aws-sam-translator: scripts/services.sh installs it): {}",
            template.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let resolved: Value = serde_json::from_slice(&out.stdout).unwrap();

        let text = |v: &Value, what: &str| -> String {
            v.as_str()
                .unwrap_or_else(|| panic!("{what} is not text in {v}"))
                .to_string()
        };
        let strings = |v: &Value| -> BTreeMap<String, String> {
            v.as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v, k))).collect())
                .unwrap_or_default()
        };
        let mut principals = serde_json::Map::new();
        let mut functions = BTreeMap::new();
        for (binary, f) in resolved["functions"].as_object().unwrap() {
            let credentials = Credentials::for_principal(binary);
            principals.insert(
                credentials.access_key_id.clone(),
                json!({
                    "name": binary,
                    "role_arn": f["role_arn"],
                    "session": f["name"],
                    "policies": f["policies"],
                }),
            );
            functions.insert(
                binary.clone(),
                Function {
                    binary: binary.clone(),
                    logical_id: text(&f["logical_id"], "logical_id"),
                    name: text(&f["name"], "name"),
                    arn: text(&f["arn"], "arn"),
                    timeout_seconds: f["timeout"].as_u64().unwrap(),
                    memory_mb: f["memory_size"].as_u64().unwrap(),
                    environment: strings(&f["environment"]),
                    credentials,
                },
            );
        }
        let sm = &resolved["state_machine"];
        let credentials = Credentials::for_principal(STATE_MACHINE);
        principals.insert(
            credentials.access_key_id.clone(),
            json!({
                "name": STATE_MACHINE,
                "role_arn": sm["role_arn"],
                "session": sm["name"],
                "policies": sm["policies"],
            }),
        );
        let state_machine = StateMachine {
            name: text(&sm["name"], "name"),
            arn: text(&sm["arn"], "arn"),
            credentials,
            definition_substitutions: strings(&sm["definition_substitutions"]),
        };

        let dir = crate::temp_dir("strict-iam");
        let denials_log = dir.join("denials.jsonl");
        let calls_log = dir.join("calls.jsonl");
        std::fs::write(&denials_log, "").unwrap();
        std::fs::write(&calls_log, "").unwrap();
        let config = dir.join("strict-iam.json");
        let hook_config = json!({
            "denials_log": denials_log,
            "calls_log": calls_log,
            "principals": principals,
        });
        std::fs::write(&config, serde_json::to_vec_pretty(&hook_config).unwrap()).unwrap();
        StrictIam {
            functions,
            state_machine,
            parameters: resolved["parameters"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            config,
            denials_log,
            calls_log,
        }
    }

    /// The hook for [`crate::S3Server::start_strict`].
    pub fn hook(&self) -> String {
        format!("strict_iam.py={}", self.config.display())
    }

    /// The function built from `binary` (`snapex-plan`, ...).
    pub fn function(&self, binary: &str) -> &Function {
        self.functions.get(binary).unwrap_or_else(|| {
            panic!(
                "template.yaml has no function {binary}; it has {:?}",
                self.functions.keys()
            )
        })
    }

    /// The function whose ARN (or a version or alias of it) is `arn`.
    pub fn function_by_arn(&self, arn: &str) -> Option<&Function> {
        self.functions.values().find(|f| {
            arn == f.arn
                || arn
                    .strip_prefix(f.arn.as_str())
                    .is_some_and(|rest| rest.starts_with(':'))
        })
    }

    /// Asks the strict IAM of the moto at `endpoint` whether `principal` (a function's binary
    /// name or [`STATE_MACHINE`]) may do `action` on `resource`; `Err` holds AWS's message.
    /// A refusal is logged with the others.
    pub fn check(
        &self,
        endpoint: &str,
        principal: &str,
        action: &str,
        resource: &str,
    ) -> Result<(), String> {
        check(endpoint, principal, action, resource, &json!({}))
    }

    /// Every call refused so far, in order.
    pub fn denials(&self) -> Vec<Denial> {
        let text = std::fs::read_to_string(&self.denials_log).unwrap();
        text.lines()
            .map(|line| {
                let d: Value = serde_json::from_str(line).unwrap();
                let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
                Denial {
                    principal: s("principal"),
                    operation: s("operation"),
                    action: s("action"),
                    resource: s("resource"),
                    context: d["context"].clone(),
                    message: s("message"),
                }
            })
            .collect()
    }

    /// Every checked call so far, in order: (principal, operation, allowed). A test sees from
    /// it that each function called AWS with its own credentials.
    pub fn calls(&self) -> Vec<(String, String, bool)> {
        let text = std::fs::read_to_string(&self.calls_log).unwrap();
        text.lines()
            .map(|line| {
                let c: Value = serde_json::from_str(line).unwrap();
                (
                    c["principal"].as_str().unwrap_or_default().to_string(),
                    c["operation"].as_str().unwrap_or_default().to_string(),
                    c["allowed"].as_bool().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Fails the test if any call was refused, listing them.
    pub fn assert_no_denials(&self) {
        let denials = self.denials();
        assert!(
            denials.is_empty(),
            "the deployed policies refuse {} call(s):\n{}",
            denials.len(),
            denials
                .iter()
                .map(|d| format!("  {}: {}", d.principal, d.message))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Asks the strict IAM of the moto at `endpoint` (`POST /_strict_iam/check`) whether
/// `principal` (a name or an access key id of its configuration) may do `action` on `resource`
/// with `context` added to the request's condition context; `Err` holds AWS's message.
pub fn check(
    endpoint: &str,
    principal: &str,
    action: &str,
    resource: &str,
    context: &Value,
) -> Result<(), String> {
    use std::io::{Read, Write};
    let body = json!({
        "principal": principal,
        "action": action,
        "resource": resource,
        "context": context,
    })
    .to_string();
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /_strict_iam/check HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, payload) = resp
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("strict IAM check: {resp}"));
    assert!(head.starts_with("HTTP/1.1 200"), "strict IAM check: {resp}");
    let answer: Value = serde_json::from_str(payload).unwrap();
    match answer["allowed"].as_bool() {
        Some(true) => Ok(()),
        Some(false) => Err(answer["message"].as_str().unwrap_or_default().to_string()),
        None => panic!("strict IAM check: {resp}"),
    }
}
