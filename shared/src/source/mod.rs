//! Sources: one module per engine behind one interface, and the table filter they share.
//!
//! The pipeline sees a source as a [`Session`] (one consistent view for a whole export:
//! discovery, key bounds) and [`Reader`]s (one connection each, reading chunks inside that
//! view). Each engine's module holds its catalog queries, type map, decoder and reader.

pub mod mysql;
pub mod postgres;
pub mod timeouts;
pub mod tls;

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use glob::Pattern;

use crate::error::{Error, Result};
use crate::limits::BatchLimits;
use crate::model::{
    KeyRange, LossyRule, PartFilter, Partitioning, ProfileGroup, SkippedTable, TableDesc, TableName,
};
use crate::source::timeouts::ReadLimit;

use crate::model::SourceInfo;

/// One table as discovered, before filtering.
pub enum Discovered {
    /// Boxed: a table's description is far bigger than a skipped table's.
    Table(Box<TableDesc>),
    Skipped(SkippedTable),
}

/// How one column is exported: what a type map gives for a catalog type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub kind: crate::types::ValueKind,
    pub read: crate::model::ReadAs,
    /// The engine's name for the wire form its decoder receives.
    pub wire: String,
    pub lossy: Vec<LossyRule>,
}

/// Why a column cannot be exported: the type map's rejection, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

/// Counts of lossy rules applied, per column name.
pub type LossyCounts = BTreeMap<String, BTreeMap<LossyRule, u64>>;

/// A validated source URL. `Debug` never prints a password.
#[derive(Debug, Clone)]
pub enum SourceUrl {
    Postgres(postgres::PgUrl),
    MySql(mysql::MyUrl),
}

impl SourceUrl {
    /// Parses a source URL by its scheme.
    pub fn parse(url: &str) -> Result<SourceUrl> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("postgres" | "postgresql") => {
                Ok(SourceUrl::Postgres(postgres::PgUrl::parse(url)?))
            }
            Some("mysql" | "mariadb") => Ok(SourceUrl::MySql(mysql::MyUrl::parse(url)?)),
            // No scheme: PostgreSQL's `key=value` connection string.
            None => Ok(SourceUrl::Postgres(postgres::PgUrl::parse(url)?)),
            Some(other) => Err(Error::InvalidInput(format!(
                "invalid source URL: unsupported scheme {other:?}; expected \
                 postgres://user[:password]@host[:port]/database or mysql://user[:password]@host[:port]/database"
            ))),
        }
    }

    /// `host:port/database`, for messages.
    pub fn endpoint(&self) -> &str {
        match self {
            SourceUrl::Postgres(u) => u.endpoint(),
            SourceUrl::MySql(u) => u.endpoint(),
        }
    }

    /// The schema an unqualified table name means on this source: PostgreSQL's `public`, or
    /// the MySQL database named in the URL. Its tables keep their bare names in Glue.
    pub fn default_schema(&self) -> Option<&str> {
        match self {
            SourceUrl::Postgres(_) => Some("public"),
            SourceUrl::MySql(u) => u.database(),
        }
    }
}

/// One consistent view of the source for a whole export.
pub enum Session {
    Postgres {
        url: postgres::PgUrl,
        snapshot: postgres::Snapshot,
    },
    MySql(mysql::MySession),
}

/// Options that only some engines use.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionOptions {
    /// How many readers will run at once (MySQL lines them up at the start).
    pub readers: usize,
    pub mysql_consistency: mysql::Consistency,
}

impl Session {
    pub async fn open(url: &SourceUrl, options: SessionOptions) -> Result<Session> {
        match url {
            SourceUrl::Postgres(u) => Ok(Session::Postgres {
                url: u.clone(),
                snapshot: postgres::Snapshot::begin(u).await?,
            }),
            SourceUrl::MySql(u) => Ok(Session::MySql(
                mysql::MySession::open(u, options.mysql_consistency, options.readers).await?,
            )),
        }
    }

    /// The most readers this session can serve, if it has a limit.
    pub fn max_readers(&self) -> Option<usize> {
        match self {
            Session::MySql(s) if s.consistency() == mysql::Consistency::Single => Some(1),
            _ => None,
        }
    }

    pub async fn info(&self) -> Result<SourceInfo> {
        match self {
            Session::Postgres { url, snapshot } => snapshot.info(url).await,
            Session::MySql(s) => s.info().await,
        }
    }

    /// How every reader sees the same moment, for the manifest.
    pub fn consistency(&self) -> String {
        match self {
            Session::Postgres { snapshot, .. } => format!("pg_export_snapshot {}", snapshot.id()),
            Session::MySql(s) => match s.consistency() {
                mysql::Consistency::LockedStart => {
                    "mysql locked-start: every reader's snapshot taken under one FLUSH TABLES WITH READ LOCK".into()
                }
                mysql::Consistency::Single => "mysql single: one reader, one consistent snapshot".into(),
                mysql::Consistency::PerReader => {
                    "mysql per-reader: each reader's own snapshot (consistent on an idle source only)".into()
                }
            },
        }
    }

    /// Streams the catalog's tables to `each`.
    pub async fn discover(&self, each: impl FnMut(Discovered) -> Result<()>) -> Result<()> {
        match self {
            Session::Postgres { snapshot, .. } => snapshot.discover(each).await,
            Session::MySql(s) => s.discover(each).await,
        }
    }

    /// Fills in the split key's smallest and largest value (None for an empty table).
    pub async fn fetch_bounds(&self, table: &mut TableDesc) -> Result<()> {
        match self {
            Session::Postgres { snapshot, .. } => snapshot.fetch_bounds(table).await,
            Session::MySql(s) => s.fetch_bounds(table).await,
        }
    }

    /// Reads the dimensions of the table's arrays that declare none (`dims_unknown` columns)
    /// from the data, inside this view (PostgreSQL only: MySQL has no arrays).
    pub async fn fetch_array_dims(&self, table: &mut TableDesc) -> Result<()> {
        match self {
            Session::Postgres { snapshot, .. } => snapshot.fetch_array_dims(table).await,
            Session::MySql(_) => Ok(()),
        }
    }

    /// Measures in heap blocks the leaf partitions `wants` picks, so the planner can split
    /// them in block ranges (PostgreSQL 14+; MySQL tables have no leaves).
    pub async fn fetch_leaf_blocks(
        &self,
        table: &mut TableDesc,
        wants: impl Fn(&crate::model::Partition) -> bool,
    ) -> Result<()> {
        match self {
            Session::Postgres { snapshot, .. } => snapshot.fetch_leaf_blocks(table, wants).await,
            Session::MySql(_) => Ok(()),
        }
    }

    /// Rows per partition group of a table with Hive partitions, for the planner.
    pub async fn profile(&self, table: &TableDesc, p: &Partitioning) -> Result<Vec<ProfileGroup>> {
        match self {
            Session::Postgres { snapshot, .. } => snapshot.profile(table, p).await,
            Session::MySql(s) => s.profile(table, p).await,
        }
    }

    /// What a reader task needs to open its own connection inside this view.
    pub fn readers(&self) -> ReaderFactory {
        match self {
            Session::Postgres { url, snapshot } => ReaderFactory::Postgres {
                url: url.clone(),
                snapshot: Some(snapshot.id().to_string()),
            },
            Session::MySql(s) => ReaderFactory::MySql(s.readers()),
        }
    }
}

/// Opens readers; cheap to clone into tasks.
#[derive(Debug, Clone)]
pub enum ReaderFactory {
    Postgres {
        url: postgres::PgUrl,
        /// The export's snapshot to import; `None` for a source nothing writes to.
        snapshot: Option<String>,
    },
    MySql(mysql::MyReaders),
}

impl ReaderFactory {
    /// Readers of a source that nothing writes to (an instance restored from a snapshot),
    /// each in a transaction of its own: without a session's snapshot to share, one chunk's
    /// reader needs one connection and nothing held open elsewhere.
    pub fn standalone(url: &SourceUrl) -> ReaderFactory {
        match url {
            SourceUrl::Postgres(u) => ReaderFactory::Postgres {
                url: u.clone(),
                snapshot: None,
            },
            SourceUrl::MySql(u) => ReaderFactory::MySql(mysql::MyReaders::per_reader(u)),
        }
    }

    pub async fn connect(&self) -> Result<Reader> {
        match self {
            ReaderFactory::Postgres { url, snapshot } => Ok(Reader::Postgres {
                client: url.connect().await?,
                snapshot: snapshot.clone(),
                limit: url.timeouts().reads(url.endpoint()),
            }),
            ReaderFactory::MySql(r) => Ok(Reader::MySql {
                conn: r.connect().await?,
                limit: r.read_limit(),
            }),
        }
    }
}

/// One connection that reads chunks, each inside the export's consistent view. Every read
/// on it fails once the server sends nothing for the URL's `read_timeout`.
pub enum Reader {
    Postgres {
        client: tokio_postgres::Client,
        snapshot: Option<String>,
        limit: ReadLimit,
    },
    /// Inside its snapshot for the whole export: MySQL snapshots cannot be re-entered.
    MySql {
        conn: mysql_async::Conn,
        limit: ReadLimit,
    },
}

impl Reader {
    /// Starts a chunk: enters the export's snapshot.
    pub async fn begin_chunk(&mut self) -> Result<()> {
        match self {
            Reader::Postgres {
                client,
                snapshot,
                limit,
            } => {
                let entering = postgres::Snapshot::begin_reading(client, snapshot.as_deref());
                limit.read("entering the export's snapshot", entering).await
            }
            Reader::MySql { .. } => Ok(()),
        }
    }

    /// Ends a chunk, releasing what it held.
    pub async fn end_chunk(&mut self) -> Result<()> {
        match self {
            Reader::Postgres { client, limit, .. } => {
                let leaving = postgres::Snapshot::end_reading(client);
                limit.read("ending a chunk's transaction", leaving).await
            }
            Reader::MySql { .. } => Ok(()),
        }
    }

    /// Starts reading `range` of `table` (`None`: the whole table), and of it only the rows of
    /// one Hive partition when `filter` is given, in bounded batches.
    pub async fn read(
        &mut self,
        table: &TableDesc,
        range: Option<KeyRange>,
        filter: Option<&PartFilter>,
        limits: BatchLimits,
    ) -> Result<BatchStream<'_>> {
        match self {
            Reader::Postgres { client, limit, .. } => Ok(BatchStream::Postgres(
                postgres::PieceReader::start(client, table, range, filter, limits, limit).await?,
            )),
            Reader::MySql { conn, limit } => Ok(BatchStream::MySql(
                mysql::RowReader::start(conn, table, range, filter, limits, limit).await?,
            )),
        }
    }
}

/// The batches of one piece, as they arrive.
pub enum BatchStream<'a> {
    Postgres(postgres::PieceReader),
    MySql(mysql::RowReader<'a>),
}

impl BatchStream<'_> {
    /// The next batch, or `None` when the piece is fully read.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        match self {
            BatchStream::Postgres(r) => r.next_batch().await,
            BatchStream::MySql(r) => r.next_batch().await,
        }
    }

    /// Counts of lossy rules applied so far, per column.
    pub fn lossy_counts(&self) -> &LossyCounts {
        match self {
            BatchStream::Postgres(r) => r.lossy_counts(),
            BatchStream::MySql(r) => r.lossy_counts(),
        }
    }
}

/// Which tables to export: `schema.table` glob patterns (`*`, `?`, `[...]`). A pattern without
/// a dot matches a table of that name in any schema. No include pattern means every table.
#[derive(Debug, Clone, Default)]
pub struct TableFilter {
    include: Vec<(String, Pattern)>,
    exclude: Vec<(String, Pattern)>,
}

fn compile(patterns: &[String]) -> Result<Vec<(String, Pattern)>> {
    patterns
        .iter()
        .map(|p| {
            let full = if p.contains('.') {
                p.clone()
            } else {
                format!("*.{p}")
            };
            Pattern::new(&full)
                .map(|pat| (p.clone(), pat))
                .map_err(|e| Error::InvalidInput(format!("table pattern {p:?}: {e}")))
        })
        .collect()
}

impl TableFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<TableFilter> {
        Ok(TableFilter {
            include: compile(include)?,
            exclude: compile(exclude)?,
        })
    }

    /// The include patterns that select `table` (empty when there are none), or `None` if the
    /// table is not selected.
    pub fn selects(&self, table: &TableName) -> Option<Vec<usize>> {
        let s = table.to_string();
        if self.exclude.iter().any(|(_, p)| p.matches(&s)) {
            return None;
        }
        if self.include.is_empty() {
            return Some(vec![]);
        }
        let hits: Vec<usize> = self
            .include
            .iter()
            .enumerate()
            .filter(|(_, (_, p))| p.matches(&s))
            .map(|(i, _)| i)
            .collect();
        (!hits.is_empty()).then_some(hits)
    }

    /// Fails on the first include pattern that matched nothing: a typo must not export less.
    pub fn check_all_matched(&self, matched: &[bool]) -> Result<()> {
        for ((raw, _), hit) in self.include.iter().zip(matched) {
            if !hit {
                return Err(Error::NoSuchTable {
                    pattern: raw.clone(),
                });
            }
        }
        Ok(())
    }

    pub fn include_count(&self) -> usize {
        self.include.len()
    }

    /// Fails when exclude patterns removed every table the source has (`discovered` of them,
    /// none `selected`): like an include that matches nothing, an empty export would pass for a
    /// successful one.
    pub fn check_something_left(&self, discovered: usize, selected: usize) -> Result<()> {
        if self.exclude.is_empty() || discovered == 0 || selected > 0 {
            return Ok(());
        }
        let patterns: Vec<&str> = self.exclude.iter().map(|(raw, _)| raw.as_str()).collect();
        Err(Error::InvalidInput(format!(
            "--exclude leaves no table to export: {patterns:?} excludes all {discovered} \
             table(s) the source has{}",
            if self.include.is_empty() {
                ""
            } else {
                " (of those the --include patterns select)"
            }
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_exclude_and_bare_names() {
        let f = TableFilter::new(
            &["public.*".into(), "audit".into()],
            &["public.tmp_*".into()],
        )
        .unwrap();
        assert_eq!(
            f.selects(&TableName::new("public", "orders")),
            Some(vec![0])
        );
        assert_eq!(f.selects(&TableName::new("public", "tmp_x")), None);
        assert_eq!(f.selects(&TableName::new("ops", "audit")), Some(vec![1]));
        assert_eq!(f.selects(&TableName::new("ops", "other")), None);
        assert!(matches!(
            f.check_all_matched(&[true, false]),
            Err(Error::NoSuchTable { .. })
        ));
        assert!(TableFilter::new(&["[".into()], &[]).is_err());
        assert!(f.check_something_left(3, 1).is_ok());
        assert!(
            f.check_something_left(0, 0).is_ok(),
            "an empty source is not a filter's fault"
        );
        let e = f.check_something_left(3, 0).unwrap_err();
        assert!(e.to_string().contains("[\"public.tmp_*\"]"), "{e}");
        let no_exclude = TableFilter::new(&["public.*".into()], &[]).unwrap();
        assert!(no_exclude.check_something_left(3, 0).is_ok());
        let all = TableFilter::new(&[], &[]).unwrap();
        assert_eq!(all.selects(&TableName::new("a", "b")), Some(vec![]));
    }
}

/// No password shows in what a source URL, the configuration holding it, or a failure to parse
/// it prints, whatever the password and whatever else is wrong with the URL.
#[cfg(test)]
mod redaction_tests {
    use super::*;
    use crate::config::ExportConfig;
    use proptest::prelude::*;

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    fn encoded(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// Everything that prints about `url`: its parse's `Debug` (and that of a configuration and
    /// a reader factory made from it), or the error's `Display` and `Debug`.
    fn everything_shown(url: &str) -> String {
        let mut shown = match SourceUrl::parse(url) {
            Ok(u) => format!("{u:?} {:?} {}", ReaderFactory::standalone(&u), u.endpoint()),
            Err(e) => format!("{e} {e:?}"),
        };
        match ExportConfig::new(url, "s3://lake/exports") {
            Ok(c) => shown.push_str(&format!(" {c:?}")),
            Err(e) => shown.push_str(&format!(" {e} {e:?}")),
        }
        shown
    }

    fn assert_hidden(url: &str, password: &str) -> Result<(), TestCaseError> {
        let shown = everything_shown(url);
        prop_assert!(
            !shown.contains(password),
            "{} shows {}: {}",
            url,
            password,
            shown
        );
        Ok(())
    }

    /// The password as a URL may hold it unescaped: unreserved characters, sub-delimiters and
    /// `:` (RFC 3986 userinfo). `Pw` and eight more characters make it distinctive.
    const RAW: &str = "Pw[A-Za-z0-9._~!$&'()*+,;=:-]{8,24}";

    /// Variations that take other paths through the parsers: TLS settings, bad ports,
    /// options they do not know.
    const QUERIES: &[&str] = &[
        "",
        "?sslmode=require",
        "?sslmode=disable",
        "?sslmode=verify-full",
        "?sslmode=allow",
        "?sslmode=verify-ca&sslrootcert=/nonexistent/roots.pem",
        "?connect_timeout=5",
        "?no_such_option=1",
        "?ssl-mode=REQUIRED",
        "?ssl-mode=VERIFY_IDENTITY",
        "?ssl-mode=VERIFY_CA&ssl-ca=/nonexistent/ca.pem",
        "?ssl-mode=SOMETIMES",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn url_passwords_never_show(
            scheme in proptest::sample::select(&["postgres", "postgresql", "mysql", "mariadb"][..]),
            host in proptest::sample::select(&["127.0.0.1", "localhost", "db.example", "[::1]"][..]),
            port in proptest::sample::select(&["", ":5432", ":3306", ":notaport", ":99999"][..]),
            query in proptest::sample::select(QUERIES),
            raw in RAW,
            unicode in "\\PC{1,16}",
        ) {
            // As written, and percent-encoded with any characters at all.
            let other = format!("Pw{}", encoded(&unicode));
            for (written, password) in [(raw.clone(), raw.clone()), (other, format!("Pw{unicode}"))] {
                let url = format!("{scheme}://alice:{written}@{host}{port}/app{query}");
                assert_hidden(&url, &written)?;
                assert_hidden(&url, &password)?;
            }
        }

        #[test]
        fn key_value_passwords_never_show(
            password in "Pw\\PC{8,24}",
            host in proptest::sample::select(&["127.0.0.1", "db.example", "/var/run/postgresql"][..]),
            extra in proptest::sample::select(
                &["", "sslmode=require", "sslmode=allow", "port=notaport", "no_such_option=1", "sslmode=verify-full"][..]
            ),
        ) {
            let quoted = password.replace('\\', "\\\\").replace('\'', "\\'");
            let url = format!("host={host} user=alice password='{quoted}' dbname=app {extra}");
            assert_hidden(&url, &password)?;
            assert_hidden(&url, &quoted)?;
        }
    }

    #[test]
    fn debug_of_urls_configurations_and_errors_hides_the_password() {
        for url in [
            "postgres://alice:Pw-s3cret-Zq7@db.example:6543/app",
            "postgres://alice:Pw-s3cret-Zq7@127.0.0.1/app?sslmode=prefer",
            "host=db.example user=alice password=Pw-s3cret-Zq7 dbname=app",
            "mysql://alice:Pw-s3cret-Zq7@db.example:3307/shop",
            "mariadb://alice:Pw-s3cret-Zq7@127.0.0.1/shop",
            // Parse errors, each on a path of its own.
            "postgres://alice:Pw-s3cret-Zq7@h:notaport/app",
            "postgres://alice:Pw-s3cret-Zq7@h/app?sslmode=allow",
            "mysql://alice:Pw-s3cret-Zq7@h:notaport/shop",
            "mysql://alice:Pw-s3cret-Zq7@h/shop?ssl-mode=VERIFY_CA",
            "oracle://alice:Pw-s3cret-Zq7@h/app",
        ] {
            let shown = everything_shown(url);
            assert!(!shown.contains("Pw-s3cret-Zq7"), "{url}: {shown}");
        }
        // The configuration shows its source, without the password.
        let c =
            ExportConfig::new("postgres://alice:Pw-s3cret-Zq7@db.example/app", "./lake").unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("db.example:5432/app"), "{shown}");
        assert!(!shown.contains("Pw-s3cret-Zq7"), "{shown}");
    }
}
