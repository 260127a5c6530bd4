//! Real faults for the reliability tests: an HTTP proxy in front of the S3-compatible server
//! that fails some requests the ways networks and S3 do, a private PostgreSQL server a test
//! may stop and restart without disturbing the shared one, TCP proxies in front of a database
//! that drop chosen connections or stall one mid-read, and a server that never answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// How a failed request fails, in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `503 Slow Down` from the "server", the request never reaching it.
    SlowDown,
    /// The connection closed before the request reached the server.
    DroppedBefore,
    /// The server handled the request, and its response was lost: the client cannot tell
    /// whether its write happened.
    DroppedAfter,
}

const FAULTS: [Fault; 3] = [Fault::SlowDown, Fault::DroppedBefore, Fault::DroppedAfter];

/// Forwards HTTP/1.1 requests to `upstream`, failing every `every`th one (see [`Fault`]).
pub struct FaultProxy {
    pub url: String,
    requests: Arc<AtomicU64>,
    faults: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr, every: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let faults = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (requests, faults, stop) = (requests.clone(), faults.clone(), stop.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let (requests, faults) = (requests.clone(), faults.clone());
                    std::thread::spawn(move || {
                        let _ = serve(client, upstream, every, &requests, &faults);
                    });
                }
            });
        }
        FaultProxy {
            url: format!("http://{addr}"),
            requests,
            faults,
            stop,
            addr,
        }
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn faults(&self) -> u64 {
        self.faults.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// One client connection: each request is read whole, then failed or forwarded on a fresh
/// upstream connection (asked to close after its response, so the response ends at EOF).
fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    every: u64,
    requests: &AtomicU64,
    faults: &AtomicU64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    loop {
        let mut head = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            assert!(
                !lower.starts_with("transfer-encoding:"),
                "the fault proxy forwards only requests with a Content-Length"
            );
            if lower.starts_with("connection:") {
                continue;
            }
            if line == "\r\n" {
                head.extend_from_slice(b"Connection: close\r\n\r\n");
                break;
            }
            head.extend_from_slice(line.as_bytes());
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;

        let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
        let fault = n
            .is_multiple_of(every)
            .then(|| FAULTS[((n / every) % 3) as usize]);
        if fault.is_some() {
            faults.fetch_add(1, Ordering::SeqCst);
        }
        match fault {
            Some(Fault::SlowDown) => {
                let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>\
                           <Message>Please reduce your request rate.</Message></Error>";
                write!(
                    client,
                    "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                    xml.len()
                )?;
                return client.shutdown(Shutdown::Both);
            }
            Some(Fault::DroppedBefore) => return client.shutdown(Shutdown::Both),
            _ => {}
        }
        let mut up = TcpStream::connect(upstream)?;
        up.write_all(&head)?;
        up.write_all(&body)?;
        let mut response = Vec::new();
        up.read_to_end(&mut response)?;
        if fault == Some(Fault::DroppedAfter) {
            return client.shutdown(Shutdown::Both);
        }
        client.write_all(&response)?;
        client.flush()?;
    }
}

/// A PostgreSQL server of our own on a free port, in a temporary folder: a test may stop,
/// restart or kill it. Runs as the `postgres` user (the server refuses root). Trust auth.
pub struct PrivatePostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl PrivatePostgres {
    pub fn start(tag: &str) -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|p| p.join("initdb").exists())
            .expect("initdb");
        // Not under TMPDIR: the test script points it into the build folder, under a home
        // the `postgres` user may not enter.
        let dir = Path::new("/tmp").join(format!("snapex-pg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        run(Command::new("chown").arg("postgres").arg(&dir));
        let port = free_port();
        let pg = PrivatePostgres { port, dir, bin };
        run(pg
            .as_postgres(&[
                "initdb",
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ])
            .arg("-D")
            .arg(pg.data()));
        pg.pg_ctl("start");
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn as_postgres(&self, args: &[&str]) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"])
            .arg(self.bin.join(args[0]))
            .args(&args[1..]);
        c
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let mut c = self.as_postgres(&["pg_ctl", "-w", "-m", "fast", action]);
        c.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("server.log"));
        if action != "stop" {
            c.arg("-o").arg(options);
        }
        run(&mut c);
    }

    /// Stops the server (fast: every session is ended) and starts it again.
    pub fn restart(&self) {
        self.pg_ctl("restart");
    }

    /// Stops the server (fast: every session is ended).
    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    pub fn start_again(&self) {
        self.pg_ctl("start");
    }

    /// A URL for `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs SQL with psql against `database`.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"])
            .arg(self.url(database))
            .arg("-c")
            .arg(sql)
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .as_postgres(&["pg_ctl", "-w", "-m", "immediate", "stop"])
            .arg("-D")
            .arg(self.data())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(c: &mut Command) {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port nothing listens on at the moment.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP proxy in front of a database server that closes the connections it is told to as
/// soon as they open (as a restarting server or a lost network path does), forwards the
/// others, and counts them all: a test can fail exactly the connections it chooses, and see
/// how many a client made.
pub struct DroppingProxy {
    connections: Arc<AtomicU64>,
    drop: Arc<std::sync::Mutex<std::collections::BTreeSet<u64>>>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl DroppingProxy {
    /// A proxy in front of the server `url` names (`scheme://[user[:password]@]host:port/...`),
    /// and the same URL through the proxy.
    pub fn before(url: &str) -> (DroppingProxy, String) {
        let (upstream, through) = server_of(url);
        let proxy = DroppingProxy::start(upstream);
        let url = through(proxy.addr);
        (proxy, url)
    }

    pub fn start(upstream: SocketAddr) -> DroppingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the dropping proxy");
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicU64::new(0));
        let drop = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (connections, drop, stop) = (connections.clone(), drop.clone(), stop.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let n = connections.fetch_add(1, Ordering::SeqCst) + 1;
                    if drop.lock().unwrap().contains(&n) {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    std::thread::spawn(move || {
                        let _ = forward(client, upstream);
                    });
                }
            });
        }
        DroppingProxy {
            connections,
            drop,
            stop,
            addr,
        }
    }

    /// Closes the connections with these numbers (the first connection is 1) as they open.
    pub fn drop_connections(&self, numbers: impl IntoIterator<Item = u64>) {
        self.drop.lock().unwrap().extend(numbers);
    }

    /// Connections opened through the proxy so far, dropped ones included.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for DroppingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The server a URL (`scheme://[user[:password]@]host:port/...`) names, and how to write the
/// same URL with another server in its place.
fn server_of(url: &str) -> (SocketAddr, impl Fn(SocketAddr) -> String) {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (user, rest) = match rest.split_once('@') {
        Some((user, rest)) => (format!("{user}@"), rest),
        None => (String::new(), rest),
    };
    let (server, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(server)
        .unwrap_or_else(|e| panic!("{server}: {e}"))
        .next()
        .expect("an address");
    let (scheme, path) = (scheme.to_string(), path.to_string());
    (upstream, move |addr| {
        format!("{scheme}://{user}{addr}{path}")
    })
}

/// A TCP proxy in front of a database server that forwards everything, except that the first
/// connection to receive more than `after` bytes from the server then receives nothing more:
/// the connection stays open and the server's bytes are held, as with a stalled server or a
/// network path that silently stopped. Later connections are forwarded whole.
pub struct StallingProxy {
    stalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl StallingProxy {
    /// A proxy in front of the server `url` names, and the same URL through the proxy.
    pub fn before(url: &str, after: u64) -> (StallingProxy, String) {
        let (upstream, through) = server_of(url);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stalling proxy");
        let addr = listener.local_addr().unwrap();
        let stalled = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (stalled, stop) = (stalled.clone(), stop.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let (stalled, stop) = (stalled.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let _ = forward_stalling(client, upstream, after, &stalled, &stop);
                    });
                }
            });
        }
        let proxy = StallingProxy {
            stalled,
            stop,
            addr,
        };
        (proxy, through(addr))
    }

    /// Whether a connection has stalled.
    pub fn stalled(&self) -> bool {
        self.stalled.load(Ordering::SeqCst)
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// [`forward`], but the server's bytes stop reaching the client, the connection left open
/// until the proxy stops, once more than `after` of them have, on the first connection that
/// gets so far.
fn forward_stalling(
    client: TcpStream,
    upstream: SocketAddr,
    after: u64,
    stalled: &AtomicBool,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    let (mut client_in, mut server_out) = (client.try_clone()?, server.try_clone()?);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut server_out);
        let _ = server_out.shutdown(Shutdown::Both);
    });
    let (mut server_in, mut client_out) = (server, client);
    let mut sent = 0u64;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = server_in.read(&mut buf)?;
        if n == 0 {
            break;
        }
        client_out.write_all(&buf[..n])?;
        sent += n as u64;
        if sent > after && !stalled.swap(true, Ordering::SeqCst) {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            break;
        }
    }
    let _ = client_out.shutdown(Shutdown::Both);
    Ok(())
}

/// A server that accepts connections and never answers: no greeting, no handshake, nothing
/// (a hung server, or a middlebox that completes TCP handshakes for a dead one). It holds
/// every connection open until dropped.
pub struct SilentServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the silent server");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(c) = client {
                        held.push(c);
                    }
                }
            });
        }
        SilentServer { addr, stop }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Copies bytes both ways between `client` and a new connection to `upstream` until either
/// side closes, then closes both.
fn forward(client: TcpStream, upstream: SocketAddr) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    let (mut client_in, mut server_out) = (client.try_clone()?, server.try_clone()?);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut server_out);
        let _ = server_out.shutdown(Shutdown::Both);
    });
    let (mut server_in, mut client_out) = (server, client);
    let _ = std::io::copy(&mut server_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Both);
    let _ = up.join();
    Ok(())
}
