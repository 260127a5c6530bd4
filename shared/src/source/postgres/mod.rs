//! The PostgreSQL source: connect, hold one snapshot for the whole export, discover tables,
//! find key bounds, and read key ranges through binary COPY.

mod catalog;
mod decode;
mod numeric;
mod profile;
mod reader;
pub mod sql;
mod time_text;
pub mod typemap;

pub use reader::PieceReader;

use std::str::FromStr;
use std::sync::Arc;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, Connection, NoTls};

use crate::error::{Error, Result};
use crate::model::SourceInfo;
use crate::model::TableDesc;
use crate::source::Discovered;
use crate::source::timeouts::Timeouts;
use crate::source::tls::{self, PgTls, Verify};
use crate::types::ValueKind;

/// libpq's `sslmode`, all of it but `allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgSslMode {
    Disable,
    /// TLS when the server offers it, plain when it declines; a failed handshake fails.
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl PgSslMode {
    fn parse(value: &str) -> Result<PgSslMode> {
        Ok(match value {
            "disable" => PgSslMode::Disable,
            "prefer" => PgSslMode::Prefer,
            "require" => PgSslMode::Require,
            "verify-ca" => PgSslMode::VerifyCa,
            "verify-full" => PgSslMode::VerifyFull,
            other => {
                return Err(Error::InvalidInput(format!(
                    "invalid PostgreSQL URL: sslmode={other:?} is not supported; expected \
                     disable, prefer, require, verify-ca or verify-full"
                )));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PgSslMode::Disable => "disable",
            PgSslMode::Prefer => "prefer",
            PgSslMode::Require => "require",
            PgSslMode::VerifyCa => "verify-ca",
            PgSslMode::VerifyFull => "verify-full",
        }
    }
}

/// A validated connection URL. `Debug` never prints the password.
#[derive(Clone)]
pub struct PgUrl {
    config: Arc<Config>,
    endpoint: String,
    ssl_mode: PgSslMode,
    /// None when `ssl_mode` is `disable`.
    tls: Option<PgTls>,
    timeouts: Timeouts,
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgUrl")
            .field("endpoint", &self.endpoint)
            .field("sslmode", &self.ssl_mode.as_str())
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl PgUrl {
    /// Parses a `postgres://` / `postgresql://` URL or a `key=value` connection string.
    ///
    /// `sslmode` and `sslrootcert` are ours (tokio-postgres knows only part of `sslmode` and
    /// no `sslrootcert`): without `sslmode`, a host that is not this machine gets `require`
    /// and loopback hosts and Unix sockets get `disable`. A root certificate file is read here,
    /// so a missing one is a bad request, not a failed connection.
    pub fn parse(url: &str) -> Result<PgUrl> {
        let (rest, ssl) = split_own_options(url);
        let mut config = Config::from_str(&rest).map_err(|e| {
            Error::InvalidInput(format!(
                "invalid PostgreSQL URL ({e}): expected postgres://user[:password]@host[:port]/database"
            ))
        })?;
        config.application_name("snapex");
        let mut timeouts = Timeouts::default();
        for (key, value) in &ssl.timeouts {
            timeouts.take(key, value, "PostgreSQL")?;
        }
        // Each address's TCP connect too, so a host with several addresses tries the next.
        if let Some(limit) = timeouts.connect {
            config.connect_timeout(limit);
        }
        let host = config
            .get_hosts()
            .first()
            .map(|h| match h {
                Host::Tcp(h) => h.clone(),
                Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let db = config.get_dbname().unwrap_or("(default)").to_string();

        let ssl_mode = match &ssl.mode {
            Some(m) => PgSslMode::parse(m)?,
            None if all_loopback(&config) => PgSslMode::Disable,
            None => PgSslMode::Require,
        };
        let roots = match &ssl.root_cert {
            Some(path) => Some(tls::load_roots("sslrootcert", path)?),
            None => None,
        };
        // As libpq: a root certificate turns prefer and require into verify-ca.
        let verify = match (ssl_mode, roots.is_some()) {
            (PgSslMode::Disable, _) => None,
            (PgSslMode::Prefer | PgSslMode::Require, false) => Some(Verify::None),
            (PgSslMode::Prefer | PgSslMode::Require | PgSslMode::VerifyCa, true) => {
                Some(Verify::Chain)
            }
            (PgSslMode::VerifyFull, true) => Some(Verify::Full),
            (PgSslMode::VerifyCa | PgSslMode::VerifyFull, false) => {
                return Err(Error::InvalidInput(format!(
                    "invalid PostgreSQL URL: sslmode={} needs sslrootcert=<PEM file> (for Amazon RDS, \
                     https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem) or sslrootcert=system",
                    ssl_mode.as_str()
                )));
            }
        };
        config.ssl_mode(match ssl_mode {
            PgSslMode::Disable => SslMode::Disable,
            PgSslMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        let tls = match verify {
            Some(v) => Some(PgTls::new(tls::client_config(v, roots)?)),
            None => None,
        };
        Ok(PgUrl {
            endpoint: format!("{host}:{port}/{db}"),
            config: config.into(),
            ssl_mode,
            tls,
            timeouts,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The `sslmode` in force: the URL's, or the default for its host.
    pub fn ssl_mode(&self) -> PgSslMode {
        self.ssl_mode
    }

    /// How long a connection and a read may wait for the server.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Opens a connection with the session settings every reader relies on, within the
    /// URL's `connect_timeout` (all of it: TCP, TLS, startup, authentication, settings).
    pub async fn connect(&self) -> Result<Client> {
        // Boxed: a connection is opened once per reader, and an unboxed future here makes the
        // types of the futures above it (a Lambda's handler) too deep for the compiler.
        self.timeouts
            .connect(&self.endpoint, Box::pin(self.connect_unbounded()))
            .await
    }

    async fn connect_unbounded(&self) -> Result<Client> {
        let connected = match &self.tls {
            None => spawn_connection(self.config.connect(NoTls).await),
            Some(tls) => spawn_connection(self.config.connect(tls.clone()).await),
        };
        let client = connected.map_err(|cause| Error::Connect {
            endpoint: self.endpoint.clone(),
            cause,
        })?;
        // Text casts (time, ranges, ...) must not depend on the server's or role's defaults.
        // A SQL_ASCII database checks nothing it stores, but checks what it sends to a UTF-8
        // session, so one stray byte would fail the whole read: such a session takes the bytes
        // as stored, and the decoder writes text that is not UTF-8 as NULL, counted.
        client
            .batch_execute(
                "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; \
                 SET extra_float_digits = 3; SET statement_timeout = 0; \
                 SELECT set_config('client_encoding', 'SQL_ASCII', false) \
                 WHERE current_setting('server_encoding') = 'SQL_ASCII'",
            )
            .await
            .map_err(|e| Error::query("setting session parameters", e))?;
        Ok(client)
    }
}

/// Drives a new connection in its own task and hands back its client.
fn spawn_connection<S, T>(
    connected: std::result::Result<(Client, Connection<S, T>), tokio_postgres::Error>,
) -> std::result::Result<Client, tokio_postgres::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = connected?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("postgres connection closed: {e}");
        }
    });
    Ok(client)
}

/// Whether every host the configuration names is this machine (or none is named).
fn all_loopback(config: &Config) -> bool {
    config.get_hosts().iter().all(|h| match h {
        Host::Tcp(h) => tls::is_loopback_host(h),
        Host::Unix(_) => true,
    }) && config.get_hostaddrs().iter().all(|a| a.is_loopback())
}

/// The options taken out of a connection string: TLS and timeouts.
#[derive(Debug, Default, PartialEq, Eq)]
struct OwnOptions {
    mode: Option<String>,
    root_cert: Option<String>,
    /// `connect_timeout` and `read_timeout`, as written.
    timeouts: Vec<(String, String)>,
}

/// Takes `sslmode`, `sslrootcert`, `connect_timeout` and `read_timeout` out of a URL's query
/// or a `key=value` string, leaving the rest as written for tokio-postgres (which knows no
/// `read_timeout`, and bounds only the TCP connect with its `connect_timeout`). The last
/// occurrence wins, as in libpq.
fn split_own_options(url: &str) -> (String, OwnOptions) {
    let mut ssl = OwnOptions::default();
    let mut take = |key: &str, value: String| match key {
        "sslmode" => {
            ssl.mode = Some(value);
            true
        }
        "sslrootcert" => {
            ssl.root_cert = Some(value);
            true
        }
        "connect_timeout" | "read_timeout" => {
            ssl.timeouts.push((key.to_string(), value));
            true
        }
        _ => false,
    };
    if url.contains("://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), ssl);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                !take(k, tls::percent_decode(v))
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, ssl);
    }
    // key=value: remove the pairs' spans; anything unparsable is left for tokio-postgres to
    // report.
    let Some(pairs) = key_value_pairs(url) else {
        return (url.to_string(), ssl);
    };
    let mut rest = String::new();
    let mut at = 0;
    for (key, value, span) in pairs {
        if take(&key, value) {
            rest.push_str(&url[at..span.start]);
            at = span.end;
        }
    }
    rest.push_str(&url[at..]);
    (rest, ssl)
}

/// The `key = value` pairs of a libpq connection string with each one's byte span; values
/// may be single-quoted, and a backslash escapes the next character. None if malformed.
fn key_value_pairs(s: &str) -> Option<Vec<(String, String, std::ops::Range<usize>)>> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            return Some(out);
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' {
            i += 1;
        }
        let key = s[start..i].to_string();
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' || key.is_empty() {
            return None;
        }
        i += 1;
        skip_ws(&mut i);
        let mut value = Vec::new();
        let quoted = i < b.len() && b[i] == b'\'';
        if quoted {
            i += 1;
        }
        loop {
            if i >= b.len() {
                if quoted {
                    return None;
                }
                break;
            }
            match b[i] {
                b'\'' if quoted => {
                    i += 1;
                    break;
                }
                c if !quoted && c.is_ascii_whitespace() => break,
                b'\\' if i + 1 < b.len() => {
                    value.push(b[i + 1]);
                    i += 2;
                }
                c => {
                    value.push(c);
                    i += 1;
                }
            }
        }
        out.push((key, String::from_utf8(value).ok()?, start..i));
    }
}

/// The coordinating session: one REPEATABLE READ transaction whose snapshot every reader imports,
/// so all chunks of one export see the same point in time. Kept open until the export ends.
pub struct Snapshot {
    client: Client,
    id: String,
}

impl Snapshot {
    /// Starts the coordinating transaction and exports its snapshot.
    pub async fn begin(url: &PgUrl) -> Result<Snapshot> {
        let client = url.connect().await?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(|e| Error::query("starting the snapshot transaction", e))?;
        let id: String = client
            .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
            .await
            .map_err(|e| Error::query("exporting a snapshot (pg_export_snapshot)", e))?
            .get(0);
        Ok(Snapshot { client, id })
    }

    /// The coordinating connection, for discovery and bounds: it sees the same snapshot.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub async fn info(&self, url: &PgUrl) -> Result<SourceInfo> {
        let row = self
            .client
            .query_one(
                "SELECT current_setting('server_version'), current_database(), \
                 current_setting('max_connections')::int8 \
                 - current_setting('superuser_reserved_connections')::int8",
                &[],
            )
            .await
            .map_err(|e| Error::query("reading the server version", e))?;
        Ok(SourceInfo {
            engine: "postgresql",
            version: row.get(0),
            database: row.get(1),
            endpoint: url.endpoint().to_string(),
            max_connections: row.get::<_, i64>(2).max(1) as u64,
        })
    }

    /// Streams the catalog's tables to `each`.
    pub async fn discover(&self, each: impl FnMut(Discovered) -> Result<()>) -> Result<()> {
        let version: i32 = self
            .client
            .query_one("SELECT current_setting('server_version_num')::int4", &[])
            .await
            .map_err(|e| Error::query("reading the server version", e))?
            .get(0);
        catalog::discover(&self.client, version >= 140_000, version >= 120_000, each).await
    }

    /// Fills in the split key's smallest and largest value (None for an empty table).
    pub async fn fetch_bounds(&self, table: &mut TableDesc) -> Result<()> {
        let from = reader::from_table(table);
        let Some(key) = table.split_key.as_mut() else {
            return Ok(());
        };
        let context = || format!("reading key bounds of {}", table.name);
        let row = if key.physical {
            // Blocks 0 ..= n-1 of the heap; the last range is unbounded anyway.
            self.client
                .query_one(
                    "SELECT 0::int8, nullif(pg_catalog.pg_relation_size(pg_catalog.to_regclass($1)) \
                     / current_setting('block_size')::int8, 0) - 1",
                    &[&sql::quote_table(&table.name)],
                )
                .await
                .map_err(|e| Error::query(context(), e))?
        } else {
            let k = sql::quote_ident(&key.column);
            let q = format!("SELECT min({k})::int8, max({k})::int8 FROM {from}");
            self.client
                .query_one(&q, &[])
                .await
                .map_err(|e| Error::query(context(), e))?
        };
        if !key.physical {
            key.quantiles = self.key_quantiles(&table.name, &key.column).await?;
        }
        key.bounds = match (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1)) {
            (Some(lo), Some(hi)) => Some((lo, hi)),
            _ => None,
        };
        Ok(())
    }

    /// Settles the dimensions of the array columns that declare none: `n` nested lists when
    /// every non-empty value of the column has `n` dimensions, else one list (values of more
    /// dimensions are then flattened, counted). One scan of the table, inside the snapshot,
    /// reading the arrays' headers with `array_ndims`.
    pub async fn fetch_array_dims(&self, table: &mut TableDesc) -> Result<()> {
        let unknown: Vec<usize> = (0..table.columns.len())
            .filter(|&i| table.columns[i].dims_unknown)
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let list = unknown
            .iter()
            .map(|&i| {
                let c = sql::quote_ident(&table.columns[i].name);
                format!("min(pg_catalog.array_ndims({c})), max(pg_catalog.array_ndims({c}))")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let q = format!("SELECT {list} FROM {}", reader::from_table(table));
        let row = self.client.query_one(&q, &[]).await.map_err(|e| {
            Error::query(format!("reading the array dimensions of {}", table.name), e)
        })?;
        for (k, &i) in unknown.iter().enumerate() {
            let column = &mut table.columns[i];
            let lo: Option<i32> = row.get(2 * k);
            let hi: Option<i32> = row.get(2 * k + 1);
            if let (Some(lo), Some(hi), ValueKind::List { element }) = (lo, hi, &column.kind)
                && lo == hi
            {
                column.kind = typemap::nested_lists((**element).clone(), lo);
            }
            column.dims_unknown = false;
        }
        Ok(())
    }

    /// Measures in heap blocks the leaf partitions of `table` that `wants` picks (big ones, to
    /// be read in block ranges), as `fetch_bounds` measures a table without an integer key. On
    /// a server without TID range scans (before PostgreSQL 14) none is measured: a block range
    /// there would be a full scan per piece.
    pub async fn fetch_leaf_blocks(
        &self,
        table: &mut TableDesc,
        wants: impl Fn(&crate::model::Partition) -> bool,
    ) -> Result<()> {
        let leaves: Vec<&mut crate::model::Partition> =
            table.partitions.iter_mut().filter(|l| wants(l)).collect();
        if leaves.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = leaves.iter().map(|l| sql::quote_table(&l.name)).collect();
        let rows = self
            .client
            .query(
                "SELECT CASE WHEN current_setting('server_version_num')::int4 >= 140000 \
                        THEN pg_catalog.pg_relation_size(pg_catalog.to_regclass(u.name)) \
                             / current_setting('block_size')::int8 END \
                   FROM unnest($1::text[]) WITH ORDINALITY AS u(name, i) ORDER BY u.i",
                &[&names],
            )
            .await
            .map_err(|e| {
                Error::query(
                    format!("measuring the leaf partitions of {}", table.name),
                    e,
                )
            })?;
        for (leaf, row) in leaves.into_iter().zip(rows) {
            leaf.blocks = row.get::<_, Option<i64>>(0).map(|n| n.max(0) as u64);
        }
        Ok(())
    }

    /// Rows per partition group of a partitioned table, inside the snapshot (see `profile`).
    pub async fn profile(
        &self,
        table: &TableDesc,
        p: &crate::model::Partitioning,
    ) -> Result<Vec<crate::model::ProfileGroup>> {
        profile::profile(&self.client, table, p).await
    }

    /// The key's histogram from `pg_stats` (ANALYZE keeps about 100 equal-frequency bounds): the
    /// planner cuts ranges at them so skewed keys still give balanced chunks. Empty when the
    /// table was never analysed; the planner then splits the key span evenly.
    async fn key_quantiles(
        &self,
        table: &crate::model::TableName,
        column: &str,
    ) -> Result<Vec<i64>> {
        let row = self
            .client
            .query_opt(
                "SELECT histogram_bounds::text FROM pg_catalog.pg_stats \
                 WHERE schemaname = $1 AND tablename = $2 AND attname = $3 AND NOT inherited",
                &[&table.schema, &table.name, &column],
            )
            .await
            .map_err(|e| Error::query(format!("reading key statistics of {table}"), e))?;
        let text: Option<String> = row.and_then(|r| r.get(0));
        Ok(text.map(|t| parse_int_array(&t)).unwrap_or_default())
    }

    /// Starts a transaction on a reader connection that sees the snapshot `id` (from
    /// [`Snapshot::id`]); it stays importable while the coordinating [`Snapshot`] is alive.
    /// Readers open one such transaction per chunk and commit it after: a transaction holds a
    /// lock on every table it read until it ends, and thousands of tables in one transaction
    /// would exhaust the server's lock table.
    pub async fn begin_reading(client: &Client, id: Option<&str>) -> Result<()> {
        let Some(id) = id else {
            return client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await
                .map_err(|e| Error::query("starting a read transaction", e));
        };
        // SET TRANSACTION SNAPSHOT takes no bind parameter. The id comes from the server's own
        // pg_export_snapshot(), and we still refuse anything but its hex-and-dash shape before
        // quoting it as a literal.
        if !is_snapshot_id(id) {
            return Err(Error::Internal(format!("unexpected snapshot id {id:?}")));
        }
        client
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{id}'"
            ))
            .await
            .map_err(|e| {
                // The snapshot is importable only while the coordinating transaction lives: once
                // the server restarted or that connection died, no reader can enter it again.
                if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE) {
                    Error::ViewLost(format!(
                        "importing the export snapshot {id}: {}",
                        e.as_db_error()
                            .map_or_else(|| e.to_string(), |d| d.message().to_string())
                    ))
                } else {
                    Error::query("importing the export snapshot", e)
                }
            })
    }

    /// Ends a reader's transaction (read-only: nothing to commit but the locks to release).
    pub async fn end_reading(client: &Client) -> Result<()> {
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| Error::query("ending a read transaction", e))
    }
}

/// Parses an integer array's text form (`{1,5,9}`); anything unparsable gives no quantiles.
fn parse_int_array(text: &str) -> Vec<i64> {
    let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
    inner
        .split(',')
        .map(|v| v.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default()
}

fn is_snapshot_id(id: &str) -> bool {
    !id.is_empty() && id.len() < 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_text_parses_or_gives_nothing() {
        assert_eq!(parse_int_array("{-5,0,17}"), vec![-5, 0, 17]);
        assert_eq!(parse_int_array("{}"), Vec::<i64>::new());
        assert_eq!(parse_int_array("{1,x}"), Vec::<i64>::new());
    }

    #[test]
    fn snapshot_ids_are_validated_before_quoting() {
        assert!(is_snapshot_id("00000003-0000001B-1"));
        assert!(!is_snapshot_id("1'; DROP TABLE x; --"));
        assert!(!is_snapshot_id(""));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let u = PgUrl::parse("postgres://alice:s3cret@db.example:6543/app").unwrap();
        let shown = format!("{u:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(u.endpoint(), "db.example:6543/app");
    }

    #[test]
    fn sslmode_defaults_by_host() {
        for (url, mode) in [
            ("postgres://u@127.0.0.1/db", PgSslMode::Disable),
            ("postgres://u@localhost:5433/db", PgSslMode::Disable),
            ("postgres://u@[::1]/db", PgSslMode::Disable),
            ("host=/var/run/postgresql dbname=db", PgSslMode::Disable),
            ("postgres://u@db.example/db", PgSslMode::Require),
            ("host=10.1.2.3 user=u dbname=db", PgSslMode::Require),
            ("postgres://u@localhost,db.example/db", PgSslMode::Require),
            (
                "postgres://u@db.example/db?sslmode=disable",
                PgSslMode::Disable,
            ),
            (
                "postgres://u@127.0.0.1/db?sslmode=require",
                PgSslMode::Require,
            ),
            (
                "postgres://u@db.example/db?sslmode=prefer&connect_timeout=5",
                PgSslMode::Prefer,
            ),
            (
                "host=db.example sslmode = 'disable' dbname=db",
                PgSslMode::Disable,
            ),
        ] {
            let u = PgUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(u.ssl_mode(), mode, "{url}");
            assert_eq!(u.tls.is_some(), mode != PgSslMode::Disable, "{url}");
        }
    }

    #[test]
    fn ssl_options_are_taken_out_of_both_forms() {
        let (rest, ssl) = split_own_options(
            "postgres://u:p%40ss@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fa%20b.pem",
        );
        assert_eq!(rest, "postgres://u:p%40ss@h/db?application_name=x");
        assert_eq!(ssl.mode.as_deref(), Some("verify-full"));
        assert_eq!(ssl.root_cert.as_deref(), Some("/tmp/a b.pem"));
        let (rest, ssl) = split_own_options("postgres://u@h/db?sslmode=require");
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(ssl.mode.as_deref(), Some("require"));
        let (rest, ssl) = split_own_options(
            r"host=h password='a b\' c' sslrootcert='/x/my roots.pem' sslmode=verify-ca dbname=d",
        );
        assert_eq!(rest, r"host=h password='a b\' c'   dbname=d");
        assert_eq!(ssl.mode.as_deref(), Some("verify-ca"));
        assert_eq!(ssl.root_cert.as_deref(), Some("/x/my roots.pem"));
        let (rest, own) =
            split_own_options("postgres://u@h/db?connect_timeout=2&read_timeout=0&sslmode=disable");
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(
            own.timeouts,
            [
                ("connect_timeout".to_string(), "2".to_string()),
                ("read_timeout".to_string(), "0".to_string())
            ]
        );
        let u = PgUrl::parse("host=h connect_timeout=2 read_timeout=0 dbname=d").unwrap();
        assert_eq!(
            u.timeouts().connect,
            Some(std::time::Duration::from_secs(2))
        );
        assert_eq!(u.timeouts().read, None);
        assert_eq!(
            PgUrl::parse("postgres://u@h/db").unwrap().timeouts(),
            Timeouts::default()
        );
        assert!(PgUrl::parse("postgres://u:s3cret@h/db?read_timeout=soon").is_err());
        assert_eq!(
            split_own_options("host=h dbname=d"),
            ("host=h dbname=d".to_string(), OwnOptions::default())
        );
    }

    #[test]
    fn bad_ssl_options_are_invalid_input_without_the_password() {
        for (url, says) in [
            (
                "postgres://u:s3cret@h/db?sslmode=allow",
                "sslmode=\"allow\" is not supported",
            ),
            (
                "postgres://u:s3cret@h/db?sslmode=verify-full",
                "needs sslrootcert",
            ),
            (
                "postgres://u:s3cret@h/db?sslmode=verify-ca&sslrootcert=/nonexistent.pem",
                "cannot read sslrootcert file",
            ),
        ] {
            let e = PgUrl::parse(url).unwrap_err();
            assert_eq!(e.class(), crate::error::ErrorClass::InvalidInput, "{url}");
            let shown = e.to_string();
            assert!(shown.contains(says), "{url}: {shown}");
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }

    #[test]
    fn bad_urls_are_invalid_input() {
        let e = PgUrl::parse("postgres://h:notaport/db").unwrap_err();
        assert_eq!(e.class(), crate::error::ErrorClass::InvalidInput);
    }
}
