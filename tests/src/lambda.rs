//! A local AWS Lambda for the end-to-end tests: it runs each function's real `bootstrap` (the
//! binary `cargo lambda build` makes and SAM deploys) as Lambda runs a `provided.al2023`
//! function, behind the Lambda Runtime API, and reports failures as Lambda reports them.
//!
//! - One process per concurrent invocation: each function keeps a warm pool of execution
//!   environments (a process and its own Runtime API endpoint on loopback); an invocation takes
//!   an idle one or starts a new one (a cold start), so a Distributed Map running 8 chunks at
//!   once runs 8 processes of `snapex-export-chunk`.
//! - The environment Lambda gives (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_*`, the log
//!   group and stream, `AWS_REGION`, `_HANDLER`, `LAMBDA_TASK_ROOT`, the role's credentials,
//!   ...) and nothing else of the test's own environment, plus the function's variables.
//! - Each invocation is delivered on `GET /2018-06-01/runtime/invocation/next` with the
//!   `Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn` and `-Trace-Id`
//!   headers, and ends with the runtime's `POST .../response` or `.../error`, or with the
//!   process's exit (`Runtime.ExitError`), or at the function's timeout, when the process is
//!   killed (`Sandbox.Timedout`), or when its resident memory passes the function's memory
//!   size (`Runtime.OutOfMemory`). A response over 6 MB is refused
//!   (`Function.ResponseSizeTooLarge`). After a crash, a timeout or running out of memory the
//!   environment is discarded, as Lambda resets it; after a handled error it stays warm.
//! - [`FunctionError::to_task_failure`] turns a failed invocation into what Step Functions
//!   shows a Task state: the payload's `errorType` as the error and the whole payload as the
//!   cause (`Lambda.Unknown` when the payload has no `errorType`). [`LambdaTasks`] is the
//!   runner's [`Tasks`] over this emulator.
//! - Every line a function prints goes to the test's output (so `scripts/test.sh` searches it
//!   for passwords like the rest) and is kept for [`Lambda::logs`], between Lambda's `START`,
//!   `END` and `REPORT` lines (with the duration and the process's peak resident memory).
//!
//! Why not an existing emulator: `cargo lambda watch` builds and runs the function package
//! through cargo (or, with `--only-lambda-apis`, leaves starting the processes to the caller);
//! starting prebuilt bootstraps, one per concurrent invocation, ending them at the function's
//! timeout and reporting a crashed process as Lambda does is what this module is for, and it
//! would also put a Python package with a Zig toolchain on the test's path. The Runtime API is
//! served by a minimal HTTP/1.1 handler on tokio's `TcpListener` rather than by hyper's server:
//! hyper is built here without its `server` feature, and turning it on would rebuild hyper and
//! every AWS SDK crate above it in each test build; the runtime client sends nothing but small
//! requests with a `Content-Length` body on a keep-alive connection.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader as StdBufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use serde_json::Value;
use snapex_asl::{TaskFailure, Tasks};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How long Lambda lets a new execution environment initialise before the first invocation
/// (its init phase limit); the function's own timeout starts once the event is delivered.
pub const INIT_LIMIT: Duration = Duration::from_secs(10);

/// The largest synchronous response Lambda takes (its "6 MB", in the bytes its error message
/// names); the Runtime API refuses a larger one (413) and the invocation fails.
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// The credentials a function's execution role gives it, as Lambda sets them in the
/// environment. The default is the fake pair the tests give moto.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Default for Credentials {
    fn default() -> Credentials {
        Credentials {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            session_token: None,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// One function as deployed: its bootstrap, configuration and environment variables.
#[derive(Debug, Clone)]
pub struct Function {
    /// The function's name (in the tests, its binary's name, as `FunctionName` would be).
    pub name: String,
    pub bootstrap: PathBuf,
    pub timeout: Duration,
    pub memory_mb: u32,
    /// The function's own variables (`Environment.Variables`); none may be one Lambda reserves.
    pub env: BTreeMap<String, String>,
    pub credentials: Credentials,
}

impl Function {
    /// `name` running `bootstrap`, with Lambda's defaults (3 s, 128 MB), no variables and the
    /// default credentials.
    pub fn new(name: impl Into<String>, bootstrap: impl Into<PathBuf>) -> Function {
        Function {
            name: name.into(),
            bootstrap: bootstrap.into(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            env: BTreeMap::new(),
            credentials: Credentials::default(),
        }
    }

    pub fn timeout(mut self, timeout: Duration) -> Function {
        self.timeout = timeout;
        self
    }

    pub fn memory_mb(mut self, memory_mb: u32) -> Function {
        self.memory_mb = memory_mb;
        self
    }

    pub fn var(mut self, key: impl Into<String>, value: impl Into<String>) -> Function {
        self.env.insert(key.into(), value.into());
        self
    }

    pub fn credentials(mut self, credentials: Credentials) -> Function {
        self.credentials = credentials;
        self
    }
}

/// Variables Lambda sets itself; a function's configuration may not set them.
const RESERVED: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Where the bootstraps are: `SNAPEX_LAMBDA_BOOTSTRAP_DIR` if set (for iterating on debug
/// builds: `$CARGO_TARGET_DIR/debug`), else `<target dir>/lambda`, where `cargo lambda build`
/// puts them (the target directory is found from the running test's own path).
pub fn bootstrap_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SNAPEX_LAMBDA_BOOTSTRAP_DIR") {
        return PathBuf::from(dir);
    }
    target_dir().join("lambda")
}

/// The cargo target directory: `CARGO_TARGET_DIR`, else the one this test binary was built in
/// (`<target>/<profile>/deps/<test>`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// The bootstrap of `binary`: `<dir>/<binary>/bootstrap` as `cargo lambda build` lays them out
/// (or `<dir>/<binary>`, a plain cargo build, under `SNAPEX_LAMBDA_BOOTSTRAP_DIR`). Panics with
/// one line saying how to build it when it is missing, or older than a source file it is built
/// from (`sources`: files or folders, searched recursively).
pub fn bootstrap(binary: &str, sources: &[PathBuf]) -> PathBuf {
    bootstrap_in(&bootstrap_dir(), binary, sources)
}

fn bootstrap_in(dir: &Path, binary: &str, sources: &[PathBuf]) -> PathBuf {
    let candidates = [dir.join(binary).join("bootstrap"), dir.join(binary)];
    let Some(path) = candidates.iter().find(|p| p.is_file()).cloned() else {
        panic!(
            "no bootstrap for {binary} at {}: run scripts/test.sh, which builds them (cargo lambda build --release --x86-64 --bin ...), or set SNAPEX_LAMBDA_BOOTSTRAP_DIR",
            candidates[0].display()
        );
    };
    if let Some(arch) = elf_architecture(&path)
        && arch != std::env::consts::ARCH
    {
        panic!(
            "the bootstrap {} is built for {arch}, this machine runs {}: rebuild it (scripts/test.sh does; a `cargo lambda build --arm64` into the same target directory replaces it)",
            path.display(),
            std::env::consts::ARCH
        );
    }
    let built = modified(&path).expect("the bootstrap's modification time");
    if let Some((newest, when)) = newest_file(sources)
        && when > built
    {
        panic!(
            "the bootstrap {} is older than {}: rebuild it (scripts/test.sh does)",
            path.display(),
            newest.display()
        );
    }
    path
}

/// The architecture an ELF executable is built for, in `std::env::consts::ARCH`'s words;
/// `None` for anything else (a script).
fn elf_architecture(path: &Path) -> Option<&'static str> {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(path)
        .ok()?
        .read_exact(&mut header)
        .ok()?;
    if &header[..4] != b"\x7fELF" {
        return None;
    }
    Some(match u16::from_le_bytes([header[18], header[19]]) {
        0x3e => "x86_64",
        0xb7 => "aarch64",
        0x03 => "x86",
        0x28 => "arm",
        _ => "another architecture",
    })
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The most recently modified file under `roots`.
fn newest_file(roots: &[PathBuf]) -> Option<(PathBuf, SystemTime)> {
    let mut newest: Option<(PathBuf, SystemTime)> = None;
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if let Ok(when) = meta.modified()
            && newest.as_ref().is_none_or(|(_, n)| when > *n)
        {
            newest = Some((path, when));
        }
    }
    newest
}

/// A failed invocation as Lambda's `Invoke` returns it: `FunctionError: Unhandled` and the
/// error payload (the body the runtime posted, or Lambda's own for a crash or a timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub request_id: String,
    pub payload: String,
}

impl FunctionError {
    /// The payload's `errorType`, when it has one.
    pub fn error_type(&self) -> Option<String> {
        let v: Value = serde_json::from_str(&self.payload).ok()?;
        v.get("errorType")?.as_str().map(str::to_owned)
    }

    /// The payload's `errorMessage`, when it has one.
    pub fn error_message(&self) -> Option<String> {
        let v: Value = serde_json::from_str(&self.payload).ok()?;
        v.get("errorMessage")?.as_str().map(str::to_owned)
    }

    /// What a Task state of Step Functions sees: the `errorType` as the error name and the
    /// payload, as Lambda returned it, as the cause; a payload without an `errorType` is
    /// `Lambda.Unknown`, with Step Functions' own cause.
    pub fn to_task_failure(&self) -> TaskFailure {
        match self.error_type() {
            Some(error) => TaskFailure::new(error, self.payload.clone()),
            None => TaskFailure::new(
                "Lambda.Unknown",
                format!(
                    "The cause could not be determined because Lambda did not return an error type. Returned payload: {}",
                    self.payload
                ),
            ),
        }
    }

    fn lambda(request_id: &str, error_type: &str, message: String) -> FunctionError {
        let payload = serde_json::json!({ "errorType": error_type, "errorMessage": message });
        FunctionError {
            request_id: request_id.to_owned(),
            payload: payload.to_string(),
        }
    }
}

impl std::fmt::Display for FunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request {} failed: {}", self.request_id, self.payload)
    }
}

impl std::error::Error for FunctionError {}

/// Why `invoke` did not reach a function: Lambda's own errors, before any code runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// No such function (`ResourceNotFoundException`).
    NotFound(String),
    /// The function failed: see the payload.
    Function(FunctionError),
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::NotFound(arn) => write!(f, "Function not found: {arn}"),
            InvokeError::Function(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for InvokeError {}

impl InvokeError {
    /// What Step Functions shows a Task state for this error.
    pub fn to_task_failure(&self) -> TaskFailure {
        match self {
            InvokeError::NotFound(arn) => TaskFailure::new(
                "Lambda.ResourceNotFoundException",
                format!(
                    "Function not found: {arn} (Service: Lambda, Status Code: 404, Error Code: ResourceNotFoundException)"
                ),
            ),
            InvokeError::Function(e) => e.to_task_failure(),
        }
    }
}

/// One invocation's figures, as Lambda's `REPORT` line gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub request_id: String,
    pub duration: Duration,
    /// The cold start's initialisation, from the process's start to its first
    /// `invocation/next`; `None` on a warm environment.
    pub init: Option<Duration>,
    /// The process's peak resident memory so far (`VmHWM`), in MB.
    pub max_memory_mb: u64,
    /// The error type, when the invocation failed.
    pub error: Option<String>,
}

/// The local Lambda service: functions by name, each with its warm pool.
pub struct Lambda {
    region: String,
    account: String,
    functions: BTreeMap<String, Arc<Pool>>,
}

/// A function and its idle execution environments.
struct Pool {
    function: Function,
    idle: Mutex<Vec<Sandbox>>,
    started: AtomicUsize,
    reports: Mutex<Vec<Report>>,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Lambda {
    /// `functions` deployed in the tests' region and account (`us-east-1`, `123456789012`).
    /// Panics when a function sets a variable Lambda reserves (Lambda refuses such a
    /// configuration) or two functions share a name.
    pub fn new(functions: impl IntoIterator<Item = Function>) -> Lambda {
        Lambda::in_account("us-east-1", "123456789012", functions)
    }

    pub fn in_account(
        region: &str,
        account: &str,
        functions: impl IntoIterator<Item = Function>,
    ) -> Lambda {
        let mut pools = BTreeMap::new();
        for function in functions {
            if let Some(key) = function.env.keys().find(|k| RESERVED.contains(&k.as_str())) {
                panic!("{}: {key} is reserved by Lambda", function.name);
            }
            let name = function.name.clone();
            let pool = Pool {
                function,
                idle: Mutex::default(),
                started: AtomicUsize::new(0),
                reports: Mutex::default(),
                logs: Arc::default(),
            };
            assert!(
                pools.insert(name.clone(), Arc::new(pool)).is_none(),
                "two functions named {name}"
            );
        }
        Lambda {
            region: region.into(),
            account: account.into(),
            functions: pools,
        }
    }

    /// The function's ARN, as a state machine definition names it.
    pub fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account
        )
    }

    /// The function a Task's `Resource` names: its ARN (with or without a qualifier) in this
    /// region and account, or its bare name.
    pub fn function_name<'a>(&self, resource: &'a str) -> Option<&'a str> {
        let name = match resource.strip_prefix("arn:aws:lambda:") {
            Some(rest) => {
                let parts: Vec<&str> = rest.split(':').collect();
                match parts.as_slice() {
                    [region, account, "function", name, ..]
                        if *region == self.region && *account == self.account =>
                    {
                        *name
                    }
                    _ => return None,
                }
            }
            None => resource,
        };
        self.functions.contains_key(name).then_some(name)
    }

    /// Invokes `function` (a name or an ARN) with `payload`, synchronously
    /// (`RequestResponse`), and returns its result: the response parsed as JSON (a response
    /// that is not JSON comes back as a JSON string).
    pub async fn invoke(&self, function: &str, payload: &Value) -> Result<Value, InvokeError> {
        let Some(name) = self.function_name(function) else {
            return Err(InvokeError::NotFound(function.to_owned()));
        };
        let pool = self.functions[name].clone();
        let body = serde_json::to_vec(payload).expect("a JSON payload");
        let bytes = pool
            .invoke(&self.region, &self.account, body)
            .await
            .map_err(InvokeError::Function)?;
        Ok(serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
    }

    /// How many execution environments (processes) the function has started.
    pub fn cold_starts(&self, function: &str) -> usize {
        self.pool(function).started.load(Ordering::SeqCst)
    }

    /// The function's invocations so far, in the order they ended.
    pub fn reports(&self, function: &str) -> Vec<Report> {
        self.pool(function).reports.lock().unwrap().clone()
    }

    /// Every line the function's processes printed, with Lambda's `START`, `END` and `REPORT`
    /// lines around each invocation.
    pub fn logs(&self, function: &str) -> Vec<String> {
        self.pool(function).logs.lock().unwrap().clone()
    }

    fn pool(&self, function: &str) -> &Pool {
        self.functions
            .get(function)
            .unwrap_or_else(|| panic!("no function {function}"))
    }
}

impl Pool {
    async fn invoke(
        &self,
        region: &str,
        account: &str,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, FunctionError> {
        let warm = self.idle.lock().unwrap().pop();
        let mut sandbox = match warm {
            Some(s) if !s.exited() => s,
            _ => {
                let index = self.started.fetch_add(1, Ordering::SeqCst);
                Sandbox::start(&self.function, region, account, index, self.logs.clone())
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "{}: cannot start {}: {e}",
                            self.function.name,
                            self.function.bootstrap.display()
                        )
                    })
            }
        };
        let request_id = uuid();
        let log = |line: String| {
            eprintln!("[{}] {line}", self.function.name);
            self.logs.lock().unwrap().push(line);
        };
        log(format!("START RequestId: {request_id} Version: $LATEST"));
        let started = Instant::now();
        let outcome = sandbox
            .run(&request_id, payload, self.function.timeout)
            .await;
        let duration = started.elapsed();
        let report = Report {
            request_id: request_id.clone(),
            duration,
            init: outcome.init,
            max_memory_mb: sandbox.max_memory_mb(),
            error: outcome.result.as_ref().err().and_then(|e| e.error_type()),
        };
        log(format!("END RequestId: {request_id}"));
        let mut line = format!(
            "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            duration.as_secs_f64() * 1000.0,
            duration.as_millis().max(1),
            self.function.memory_mb,
            report.max_memory_mb
        );
        if let Some(init) = outcome.init {
            line.push_str(&format!(
                "\tInit Duration: {:.2} ms",
                init.as_secs_f64() * 1000.0
            ));
        }
        log(line);
        self.reports.lock().unwrap().push(report);
        if outcome.keep {
            self.idle.lock().unwrap().push(sandbox);
        }
        outcome.result
    }
}

/// How one invocation in one environment ended.
struct Outcome {
    result: Result<Vec<u8>, FunctionError>,
    /// The environment may serve the next invocation (false after a crash or a timeout).
    keep: bool,
    init: Option<Duration>,
}

/// What ended one wait of [`Sandbox::run`].
enum Ended {
    Delivered(Instant),
    Reply(Option<Reply>),
    InitError(Vec<u8>),
    Exited(String),
    TimedOut,
}

/// One execution environment: the bootstrap process and the Runtime API it polls.
struct Sandbox {
    child: Arc<Mutex<Child>>,
    pid: u32,
    spawned: Instant,
    initialised: bool,
    api: Arc<RuntimeApi>,
    queue: mpsc::UnboundedSender<Delivery>,
    exit: watch::Receiver<Option<String>>,
    server: JoinHandle<()>,
    monitor: JoinHandle<()>,
    forwarders: Vec<std::thread::JoinHandle<()>>,
    memory_mb: u32,
    /// Set when the process passed its memory size and was killed for it.
    out_of_memory: Arc<AtomicBool>,
    /// The largest peak the monitor saw: what is left of the figure once the process is gone.
    peak_mb: Arc<AtomicU64>,
}

impl Sandbox {
    async fn start(
        function: &Function,
        region: &str,
        account: &str,
        index: usize,
        logs: Arc<Mutex<Vec<String>>>,
    ) -> std::io::Result<Sandbox> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (queue, queued) = mpsc::unbounded_channel();
        let (init_error, _) = watch::channel(None);
        let api = Arc::new(RuntimeApi {
            queue: tokio::sync::Mutex::new(queued),
            pending: Mutex::default(),
            init_error,
            function_arn: format!(
                "arn:aws:lambda:{region}:{account}:function:{}",
                function.name
            ),
        });
        let server = tokio::spawn(serve(listener, api.clone()));

        let task_root = function
            .bootstrap
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let stream = format!(
            "{}/[$LATEST]{:016x}{:016x}",
            chrono::Utc::now().format("%Y/%m/%d"),
            random_u64(),
            random_u64()
        );
        let mut command = Command::new(&function.bootstrap);
        // Only what Lambda gives: the test's own environment (its AWS_* variables, HOME and
        // a profile, ...) must not leak into the function.
        command
            .env_clear()
            .envs(&function.env)
            .env("_HANDLER", "bootstrap")
            .env("AWS_REGION", region)
            .env("AWS_DEFAULT_REGION", region)
            .env("AWS_LAMBDA_FUNCTION_NAME", &function.name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                function.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", function.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", stream)
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_ACCESS_KEY_ID", &function.credentials.access_key_id)
            .env(
                "AWS_SECRET_ACCESS_KEY",
                &function.credentials.secret_access_key,
            )
            // Lambda's /var/task and /var/runtime: here, the folder of the bootstrap.
            .env("LAMBDA_TASK_ROOT", &task_root)
            .env("LAMBDA_RUNTIME_DIR", &task_root)
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC")
            .env("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin")
            .current_dir(&task_root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(token) = &function.credentials.session_token {
            command.env("AWS_SESSION_TOKEN", token);
        }
        let spawned = Instant::now();
        let mut child = spawn(&mut command).await?;
        let prefix = format!("[{}#{index}]", function.name);
        let forwarders = vec![
            forward(child.stdout.take(), prefix.clone(), logs.clone()),
            forward(child.stderr.take(), prefix, logs),
        ];
        let pid = child.id();
        let child = Arc::new(Mutex::new(child));
        let (exited, exit) = watch::channel(None);
        let out_of_memory = Arc::new(AtomicBool::new(false));
        let peak_mb = Arc::new(AtomicU64::new(0));
        let monitor = tokio::spawn(watch_exit(
            child.clone(),
            exited,
            function.memory_mb,
            out_of_memory.clone(),
            peak_mb.clone(),
        ));
        Ok(Sandbox {
            child,
            pid,
            spawned,
            initialised: false,
            api,
            queue,
            exit,
            server,
            monitor,
            forwarders: forwarders.into_iter().flatten().collect(),
            memory_mb: function.memory_mb,
            out_of_memory,
            peak_mb,
        })
    }

    fn exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// Hands the event to the runtime and waits for its response, its error, its exit or the
    /// timeout, whichever comes first.
    async fn run(&mut self, request_id: &str, payload: Vec<u8>, timeout: Duration) -> Outcome {
        let (reply, mut replied) = oneshot::channel();
        let (delivered, mut delivery) = oneshot::channel();
        let sent = self.queue.send(Delivery {
            request_id: request_id.to_owned(),
            payload,
            timeout,
            reply,
            delivered,
        });
        assert!(sent.is_ok(), "the environment's Runtime API is gone");
        let cold = !self.initialised;
        // A cold environment first initialises (Lambda allows INIT_LIMIT for that); the
        // function's timeout counts from the event's delivery.
        let mut deadline = tokio::time::Instant::now() + INIT_LIMIT + timeout;
        let mut delivered_at: Option<Instant> = None;
        let mut init = None;
        let mut exit = self.exit.clone();
        let mut init_error = self.api.init_error.subscribe();
        let fail = |error_type: &str, message: String| -> Result<Vec<u8>, FunctionError> {
            Err(FunctionError::lambda(request_id, error_type, message))
        };
        let payload = |body: &[u8]| FunctionError {
            request_id: request_id.to_owned(),
            payload: String::from_utf8_lossy(body).into_owned(),
        };
        loop {
            let ended = tokio::select! {
                biased;
                reply = &mut replied => Ended::Reply(reply.ok()),
                at = &mut delivery, if delivered_at.is_none() => {
                    Ended::Delivered(at.unwrap_or_else(|_| Instant::now()))
                }
                reported = init_error.wait_for(Option::is_some) => {
                    Ended::InitError(reported.ok().and_then(|r| r.clone()).unwrap_or_default())
                }
                exited = exit.wait_for(Option::is_some) => {
                    Ended::Exited(exited.ok().and_then(|r| r.clone()).unwrap_or_default())
                }
                _ = tokio::time::sleep_until(deadline) => Ended::TimedOut,
            };
            // A process whose peak passed its memory size between two samples of the monitor
            // would have been killed by Lambda all the same.
            let ended = match ended {
                Ended::Reply(Some(_)) if self.max_memory_mb() > u64::from(self.memory_mb) => {
                    self.out_of_memory.store(true, Ordering::SeqCst);
                    self.kill();
                    Ended::Exited(describe_exit(ExitStatus::from_raw(9)))
                }
                ended => ended,
            };
            let (result, keep) = match ended {
                Ended::Delivered(at) => {
                    delivered_at = Some(at);
                    if cold {
                        init = Some(at.duration_since(self.spawned));
                    }
                    deadline = tokio::time::Instant::from_std(at + timeout);
                    continue;
                }
                Ended::Reply(Some(Reply::TooLarge(size))) => {
                    let message = format!(
                        "Response payload size ({size} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                    );
                    (fail("Function.ResponseSizeTooLarge", message), true)
                }
                Ended::Reply(Some(Reply::Response(body))) => (Ok(body), true),
                Ended::Reply(Some(Reply::Error(body))) => (Err(payload(&body)), true),
                // The Runtime API dropped the invocation: only when it is shut down.
                Ended::Reply(None) => (
                    fail("Runtime.Unknown", "the Runtime API stopped".into()),
                    false,
                ),
                Ended::InitError(body) => {
                    // The runtime reported that it cannot start: Lambda returns its report and
                    // discards the environment.
                    self.kill();
                    self.drain_logs().await;
                    (Err(payload(&body)), false)
                }
                Ended::Exited(status) => {
                    self.drain_logs().await;
                    let message = format!(
                        "RequestId: {request_id} Error: Runtime exited with error: {status}"
                    );
                    if self.out_of_memory.load(Ordering::SeqCst) {
                        (fail("Runtime.OutOfMemory", message), false)
                    } else {
                        (fail("Runtime.ExitError", message), false)
                    }
                }
                Ended::TimedOut => {
                    self.kill();
                    self.drain_logs().await;
                    let message = format!(
                        "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                        timeout.as_secs_f64()
                    );
                    (fail("Sandbox.Timedout", message), false)
                }
            };
            self.initialised = true;
            return Outcome { result, keep, init };
        }
    }

    /// The process's peak resident memory, in MB. What is read now is kept: once the process
    /// is killed its `/proc` entry is gone (or its pid taken by another process), and the
    /// report must still show the peak the kill was decided on.
    fn max_memory_mb(&self) -> u64 {
        let now = memory_mb(self.pid).map_or(0, |(_, peak)| peak);
        self.peak_mb.fetch_max(now, Ordering::SeqCst).max(now)
    }

    /// Once the process has exited: waits (a little) until everything it printed is logged.
    async fn drain_logs(&self) {
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && !self.forwarders.iter().all(|f| f.is_finished()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn kill(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.kill();
        self.server.abort();
        self.monitor.abort();
    }
}

/// A process's resident memory and its peak (`VmRSS`, `VmHWM` of `/proc/<pid>/status`), in
/// MB rounded up; `None` once it is gone.
fn memory_mb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb.div_ceil(1024))
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Starts `command`, again for up to a second while its executable is busy (`ETXTBSY`): for a
/// moment after a file is written, a process forked meanwhile by another thread of the test
/// (or a build writing the bootstraps) may still hold it open for writing.
async fn spawn(command: &mut Command) -> std::io::Result<Child> {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            spawned => return spawned,
        }
    }
}

/// Polls the process until it exits, then publishes how, worded as Lambda words it
/// (`exit status 1`, `signal: killed`). A process resident in more than its memory size is
/// killed, as Lambda kills it (Lambda counts its cgroup's memory, a little more than the
/// process's resident set, so this is the lenient side of Lambda's limit).
async fn watch_exit(
    child: Arc<Mutex<Child>>,
    exited: watch::Sender<Option<String>>,
    memory_limit_mb: u32,
    out_of_memory: Arc<AtomicBool>,
    peak_mb: Arc<AtomicU64>,
) {
    loop {
        let status = {
            let mut child = child.lock().unwrap();
            let status = child.try_wait();
            if let (Ok(None), Some((resident, peak))) = (&status, memory_mb(child.id())) {
                peak_mb.fetch_max(peak, Ordering::SeqCst);
                if resident > u64::from(memory_limit_mb) {
                    out_of_memory.store(true, Ordering::SeqCst);
                    let _ = child.kill();
                }
            }
            status
        };
        match status {
            Ok(Some(status)) => {
                let _ = exited.send(Some(describe_exit(status)));
                return;
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => {
                let _ = exited.send(Some(format!("wait: {e}")));
                return;
            }
        }
    }
}

fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(9)) => "signal: killed".into(),
        (None, Some(6)) => "signal: aborted".into(),
        (None, Some(11)) => "signal: segmentation fault".into(),
        (None, Some(15)) => "signal: terminated".into(),
        (None, Some(signal)) => format!("signal: {signal}"),
        (None, None) => "unknown".into(),
    }
}

/// Copies a process's output, line by line, to the test's output and to `logs`.
fn forward(
    output: Option<impl std::io::Read + Send + 'static>,
    prefix: String,
    logs: Arc<Mutex<Vec<String>>>,
) -> Option<std::thread::JoinHandle<()>> {
    let output = output?;
    Some(std::thread::spawn(move || {
        for line in StdBufReader::new(output).lines() {
            let Ok(line) = line else { return };
            eprintln!("{prefix} {line}");
            logs.lock().unwrap().push(line);
        }
    }))
}

/// An invocation waiting for the runtime's `next`.
struct Delivery {
    request_id: String,
    payload: Vec<u8>,
    timeout: Duration,
    reply: oneshot::Sender<Reply>,
    delivered: oneshot::Sender<Instant>,
}

/// What the runtime posted for an invocation.
enum Reply {
    Response(Vec<u8>),
    Error(Vec<u8>),
    /// A response larger than [`MAX_RESPONSE_BYTES`], refused: its size.
    TooLarge(usize),
}

/// One environment's Runtime API: its queue of invocations, those delivered and not yet
/// answered, and the init error its runtime reported, if any.
struct RuntimeApi {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Delivery>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    init_error: watch::Sender<Option<Vec<u8>>>,
    function_arn: String,
}

const API: &str = "/2018-06-01/runtime";

/// An HTTP response: status, extra headers, body.
type Response = (u16, Vec<(&'static str, String)>, Vec<u8>);

impl RuntimeApi {
    async fn handle(&self, request: &Request) -> Response {
        let json = |status: u16, body: Value| (status, vec![], body.to_string().into_bytes());
        let path = request.path.as_str();
        match (request.method.as_str(), path) {
            ("GET", p) if p == format!("{API}/invocation/next") => self.next().await,
            ("POST", p) if p == format!("{API}/init/error") => {
                let _ = self.init_error.send(Some(request.body.clone()));
                json(202, serde_json::json!({"status": "OK"}))
            }
            ("POST", p) if p.starts_with(&format!("{API}/invocation/")) => {
                let rest = &p[API.len() + "/invocation/".len()..];
                let reply = match rest.split_once('/') {
                    Some((id, "response")) => Some((id, Reply::Response(request.body.clone()))),
                    Some((id, "error")) => Some((id, Reply::Error(request.body.clone()))),
                    _ => None,
                };
                let Some((id, reply)) = reply else {
                    return json(
                        404,
                        serde_json::json!({"errorType": "NotFound", "errorMessage": path}),
                    );
                };
                match self.pending.lock().unwrap().remove(id) {
                    Some(waiting) => match reply {
                        Reply::Response(body) if body.len() > MAX_RESPONSE_BYTES => {
                            let _ = waiting.send(Reply::TooLarge(body.len()));
                            let message = format!(
                                "Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                            );
                            json(
                                413,
                                serde_json::json!({"errorType": "RequestEntityTooLarge", "errorMessage": message}),
                            )
                        }
                        reply => {
                            let _ = waiting.send(reply);
                            json(202, serde_json::json!({"status": "OK"}))
                        }
                    },
                    None => json(
                        400,
                        serde_json::json!({"errorType": "InvalidRequestID", "errorMessage": "Invalid request ID"}),
                    ),
                }
            }
            _ => json(
                404,
                serde_json::json!({"errorType": "NotFound", "errorMessage": path}),
            ),
        }
    }

    /// Waits for the next invocation and delivers it with Lambda's headers.
    async fn next(&self) -> Response {
        let delivery = self.queue.lock().await.recv().await;
        let Some(d) = delivery else {
            return (500, vec![], br#"{"errorType":"ShutDown"}"#.to_vec());
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let deadline = (now + d.timeout).as_millis();
        let trace = format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
            now.as_secs(),
            random_u64() as u128 | ((random_u64() as u128 & 0xffff_ffff) << 64),
            random_u64()
        );
        let headers = vec![
            ("Lambda-Runtime-Aws-Request-Id", d.request_id.clone()),
            ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                self.function_arn.clone(),
            ),
            ("Lambda-Runtime-Trace-Id", trace),
        ];
        self.pending.lock().unwrap().insert(d.request_id, d.reply);
        let _ = d.delivered.send(Instant::now());
        (200, headers, d.payload)
    }
}

/// A request as the runtime client sends them: a body only with `Content-Length`.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    close: bool,
}

async fn serve(listener: TcpListener, api: Arc<RuntimeApi>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(stream, api.clone()));
    }
}

/// Serves one keep-alive connection, one request after the other.
async fn connection(stream: TcpStream, api: Arc<RuntimeApi>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let response = match read_request(&mut read).await? {
            None => return Ok(()),
            Some(Err(refused)) => refused,
            Some(Ok(request)) => {
                let response = api.handle(&request).await;
                if request.close {
                    write_response(&mut write, response).await?;
                    return Ok(());
                }
                response
            }
        };
        write_response(&mut write, response).await?;
    }
}

/// The next request on the connection; `None` at its end, `Some(Err(response))` for one this
/// server does not take (a chunked body: the runtime's streaming mode, unused here).
async fn read_request(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<Result<Request, Response>>> {
    let mut line = String::new();
    if read.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default().to_owned();
    let path = words.next().unwrap_or_default().to_owned();
    let mut length = 0usize;
    let mut chunked = false;
    let mut close = false;
    loop {
        let mut header = String::new();
        if read.read_line(&mut header).await? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "transfer-encoding" => chunked = true,
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    if chunked {
        let body = br#"{"errorType":"NotImplemented","errorMessage":"chunked bodies (streaming responses) are not emulated"}"#;
        return Ok(Some(Err((501, vec![], body.to_vec()))));
    }
    let mut body = vec![0; length];
    read.read_exact(&mut body).await?;
    Ok(Some(Ok(Request {
        method,
        path,
        body,
        close,
    })))
}

async fn write_response(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    (status, headers, body): Response,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        413 => "Request Entity Too Large",
        501 => "Not Implemented",
        _ => "Internal Server Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    write.write_all(head.as_bytes()).await?;
    write.write_all(&body).await?;
    write.flush().await
}

fn random_u64() -> u64 {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_usize(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A random (version 4) UUID, as Lambda's request ids are.
fn uuid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// What a test does just before a Task's function is invoked: fail the call as the Lambda
/// service would (`Some(failure)`, the function does not run), or change the world under it.
/// Called with the function's name, the input and the attempt (1 for the first call of that
/// function, or of that Map item, see [`LambdaTasks::calls`]).
pub type Hook = Box<dyn Fn(&str, &Value, u32) -> Option<TaskFailure> + Send + Sync>;

/// The state machine runner's Task resources, invoked through the local [`Lambda`]: the
/// definition's Lambda ARNs run the real bootstraps, and their failures reach the runner as
/// Step Functions reports them.
pub struct LambdaTasks {
    lambda: Arc<Lambda>,
    hook: Hook,
    calls: Mutex<BTreeMap<String, u32>>,
}

impl LambdaTasks {
    pub fn new(lambda: Arc<Lambda>) -> LambdaTasks {
        LambdaTasks::with_hook(lambda, Box::new(|_, _, _| None))
    }

    pub fn with_hook(lambda: Arc<Lambda>, hook: Hook) -> LambdaTasks {
        LambdaTasks {
            lambda,
            hook,
            calls: Mutex::default(),
        }
    }

    /// Calls per function, and per Map item for the items that name a chunk
    /// (`function#N` for an input with `item.chunk` N), the throttled ones included.
    pub fn calls(&self) -> BTreeMap<String, u32> {
        self.calls.lock().unwrap().clone()
    }
}

impl Tasks for LambdaTasks {
    fn invoke<'a>(
        &'a self,
        resource: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, TaskFailure>> {
        Box::pin(async move {
            let Some(function) = self.lambda.function_name(resource) else {
                return Err(InvokeError::NotFound(resource.to_owned()).to_task_failure());
            };
            let key = match input["item"]["chunk"].as_u64() {
                Some(chunk) => format!("{function}#{chunk}"),
                None => function.to_owned(),
            };
            let attempt = {
                let mut calls = self.calls.lock().unwrap();
                let n = calls.entry(key).or_default();
                *n += 1;
                *n
            };
            if let Some(failure) = (self.hook)(function, &input, attempt) {
                return Err(failure);
            }
            self.lambda
                .invoke(function, &input)
                .await
                .map_err(|e| e.to_task_failure())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_without_an_error_type_is_lambda_unknown() {
        let e = FunctionError {
            request_id: "r".into(),
            payload:
                r#"{"errorMessage":"2026-12-05T06:00:00Z r Task timed out after 3.00 seconds"}"#
                    .into(),
        };
        let failure = e.to_task_failure();
        assert_eq!(failure.error, "Lambda.Unknown");
        assert!(
            failure
                .cause
                .ends_with(r#"Returned payload: {"errorMessage":"2026-12-05T06:00:00Z r Task timed out after 3.00 seconds"}"#),
            "{failure}"
        );
        let e = FunctionError::lambda("r", "Retryable", "try again".into());
        assert_eq!(
            e.to_task_failure(),
            TaskFailure::new(
                "Retryable",
                r#"{"errorMessage":"try again","errorType":"Retryable"}"#
            )
        );
    }

    #[test]
    fn task_resources_name_functions_of_this_region_and_account() {
        let lambda = Lambda::new([Function::new("snapex-plan", "/nonexistent/bootstrap")]);
        let arn = lambda.arn("snapex-plan");
        assert_eq!(
            arn,
            "arn:aws:lambda:us-east-1:123456789012:function:snapex-plan"
        );
        assert_eq!(lambda.function_name(&arn), Some("snapex-plan"));
        assert_eq!(
            lambda.function_name(&format!("{arn}:live")),
            Some("snapex-plan")
        );
        assert_eq!(lambda.function_name("snapex-plan"), Some("snapex-plan"));
        for other in [
            "arn:aws:lambda:eu-west-1:123456789012:function:snapex-plan",
            "arn:aws:lambda:us-east-1:999999999999:function:snapex-plan",
            "arn:aws:lambda:us-east-1:123456789012:function:snapex-other",
            "snapex-other",
        ] {
            assert_eq!(lambda.function_name(other), None, "{other}");
        }
    }

    #[test]
    #[should_panic(expected = "AWS_REGION is reserved by Lambda")]
    fn a_reserved_variable_is_refused() {
        Lambda::new([Function::new("f", "/bin/true").var("AWS_REGION", "eu-west-1")]);
    }

    fn panic_message(f: impl FnOnce() -> PathBuf + std::panic::UnwindSafe) -> String {
        let e = std::panic::catch_unwind(f).unwrap_err();
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    #[test]
    fn a_missing_or_stale_bootstrap_fails_with_one_line() {
        let dir = crate::temp_dir("bootstraps");
        let sources = dir.join("src");
        std::fs::create_dir_all(&sources).unwrap();
        let source = sources.join("main.rs");
        std::fs::write(&source, "fn main() {}").unwrap();
        let path = dir.join("lambda/snapex-plan/bootstrap");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "").unwrap();
        let file = std::fs::File::options().write(true).open(&source).unwrap();
        file.set_modified(SystemTime::now() + Duration::from_secs(60))
            .unwrap();
        let lambda = dir.join("lambda");
        let roots = vec![sources.clone()];
        let stale = panic_message(|| bootstrap_in(&lambda, "snapex-plan", &roots));
        assert!(
            stale.contains("is older than") && stale.ends_with("rebuild it (scripts/test.sh does)"),
            "{stale}"
        );
        assert!(!stale.contains('\n'), "{stale}");
        let missing = panic_message(|| bootstrap_in(&lambda, "snapex-finalize", &roots));
        assert!(
            missing.starts_with("no bootstrap for snapex-finalize at "),
            "{missing}"
        );
        assert!(!missing.contains('\n'), "{missing}");
        file.set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();
        assert_eq!(bootstrap_in(&lambda, "snapex-plan", &roots), path);

        // An executable for another machine (an ELF header with e_machine aarch64 or x86_64).
        let other = if std::env::consts::ARCH == "x86_64" {
            0xb7u16
        } else {
            0x3e
        };
        let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0".to_vec();
        elf.extend_from_slice(&other.to_le_bytes());
        std::fs::write(&path, elf).unwrap();
        let foreign = panic_message(|| bootstrap_in(&lambda, "snapex-plan", &roots));
        assert!(foreign.contains("this machine runs"), "{foreign}");
        assert!(!foreign.contains('\n'), "{foreign}");
    }
}
