//! The functions of `template.yaml` as the tests deploy them on the local Lambda
//! (`snapex_tests::lambda`): each one's real bootstrap, the template's timeout and memory size,
//! and the variables a test gives.

use std::path::PathBuf;
use std::time::Duration;

use snapex_tests::lambda::{Credentials, Function, bootstrap};
use snapex_tests::strict_aws::StrictIam;

/// The binary, timeout (seconds) and memory size (MB, the parameters' defaults) of each
/// function of the template's state machine and of the trigger, as `template.yaml` sets them.
pub const FUNCTIONS: &[(&str, u64, u32)] = &[
    ("snapex-trigger", 300, 128),
    ("snapex-restore", 60, 128),
    ("snapex-check-instance", 60, 128),
    ("snapex-plan", 900, 1024),
    ("snapex-export-chunk", 900, 3008),
    ("snapex-finalize", 900, 1024),
    ("snapex-register", 900, 512),
    ("snapex-cleanup", 300, 128),
];

/// The files the bootstraps are built from: a bootstrap older than one of them is stale. Not
/// `Cargo.lock`, which a test's own dependency changes too without changing a bootstrap.
fn sources() -> Vec<PathBuf> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut sources = vec![root.join("shared/src"), root.join("shared/Cargo.toml")];
    // Each function crate's sources and manifest, not its tests.
    for entry in std::fs::read_dir(root.join("functions")).unwrap().flatten() {
        sources.push(entry.path().join("src"));
        sources.push(entry.path().join("Cargo.toml"));
    }
    sources
}

/// `binary` as the template deploys it, with no variables yet. Panics with one line when its
/// bootstrap is missing or stale (see `snapex_tests::lambda::bootstrap`).
pub fn function(binary: &str) -> Function {
    let (_, timeout, memory) = FUNCTIONS
        .iter()
        .find(|(name, ..)| *name == binary)
        .unwrap_or_else(|| panic!("{binary} is not a function of template.yaml"));
    Function::new(binary, bootstrap(binary, &sources()))
        .timeout(Duration::from_secs(*timeout))
        .memory_mb(*memory)
}

/// `binary` as `iam`'s resolved template deploys it, on the moto at `endpoint`: its deployed
/// name (the definition's substitutions name it), its real bootstrap, the template's timeout,
/// memory size and environment variables, and its own credentials, which strict IAM checks.
pub fn deployed(iam: &StrictIam, binary: &str, endpoint: &str) -> Function {
    let f = iam.function(binary);
    let credentials = Credentials {
        access_key_id: f.credentials.access_key_id.clone(),
        secret_access_key: f.credentials.secret_access_key.clone(),
        session_token: None,
    };
    let memory_mb = u32::try_from(f.memory_mb).expect("a memory size in MB");
    let mut function = Function::new(&f.name, bootstrap(binary, &sources()))
        .timeout(Duration::from_secs(f.timeout_seconds))
        .memory_mb(memory_mb)
        .credentials(credentials)
        .var("AWS_ENDPOINT_URL", endpoint);
    for (k, v) in &f.environment {
        function = function.var(k, v);
    }
    function
}
