//! Converging the Glue catalog onto what an export describes: its database, its tables and,
//! for each table, exactly its partitions. Every step first reads what Glue holds and writes
//! only the difference, so registering the same export again changes nothing, and
//! registering a newer export of the same database moves every table and partition to it.
//!
//! A [`Registrar`] makes the calls: the database step once ([`Registrar::register_database`]),
//! then the tables, all of them or one batch per call ([`Registrar::register_tables`] with a
//! catalog read by [`ExportCatalog::read_tables`]), so a state machine can fan the batches
//! out. Tables are handled several at a time; each table's steps run in order (table, then
//! new, changed and stale partitions). Every call first waits for its turn at the
//! registrar's request rate ([`crate::rate`]), shared by all its tables. The SDK's retry
//! policy (standard mode, with backoff) retries a throttled or failed call; a call still
//! throttled when the SDK's attempts are spent is made again after a backoff, a bounded
//! number of times ([`crate::rate::THROTTLED_RETRIES`]). A throttled call was not performed,
//! so making it again does it once. A registration that stops part-way is finished by running
//! it again.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_glue::Client;
use aws_sdk_glue::config::http::HttpResponse;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types::{BatchUpdatePartitionRequestEntry, PartitionValueList};
use futures::{StreamExt, TryStreamExt};
use snapex::catalog::DatabaseInput;
use snapex::catalog::glue::{MAX_PARTITIONS_PER_BATCH, PartitionInput};

use crate::convert;
use crate::error::{GlueError, is_throttling};
use crate::export::{CatalogTable, ExportCatalog};
use crate::rate::{DEFAULT_REQUESTS_PER_SECOND, RequestRate, throttled_backoff};

/// Glue takes at most this many partitions in one `BatchUpdatePartition`.
const MAX_PARTITION_UPDATES_PER_BATCH: usize = 100;
/// Glue takes at most this many partitions in one `BatchDeletePartition`.
const MAX_PARTITION_DELETES_PER_BATCH: usize = 25;
/// Tables converged at once. The request rate, not this, keeps the calls within Glue's
/// limits; this only keeps enough calls ready to use the rate while some tables wait out a
/// throttling backoff.
pub const TABLES_AT_ONCE: usize = 16;

/// How many objects of one kind were created, updated, deleted or found as they should be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
}

impl Counts {
    pub fn add(&mut self, o: Counts) {
        self.created += o.created;
        self.updated += o.updated;
        self.deleted += o.deleted;
        self.unchanged += o.unchanged;
    }

    /// True when nothing was created, updated or deleted.
    pub fn is_unchanged(&self) -> bool {
        self.created == 0 && self.updated == 0 && self.deleted == 0
    }
}

/// What a registration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub export_id: String,
    pub database_name: String,
    /// The database is created when missing and otherwise left as it is (`unchanged`).
    pub database: Counts,
    /// Tables are created or updated, never deleted: a Glue database may hold other tables.
    pub tables: Counts,
    /// Partitions of this export's tables that it does not describe are deleted.
    pub partitions: Counts,
}

impl Report {
    /// Adds another batch's counts to this report's: the report of a registration done in
    /// batches is the sum of theirs (and of the database step's).
    pub fn add(&mut self, o: &Report) {
        self.database.add(o.database);
        self.tables.add(o.tables);
        self.partitions.add(o.partitions);
    }

    /// True when the catalog already was what the export describes.
    pub fn is_unchanged(&self) -> bool {
        self.database.is_unchanged() && self.tables.is_unchanged() && self.partitions.is_unchanged()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (d, t, p) = (&self.database, &self.tables, &self.partitions);
        write!(
            f,
            "export {} in Glue database {}: database {}; tables: {} created, {} updated, {} \
             unchanged; partitions: {} created, {} updated, {} deleted, {} unchanged",
            self.export_id,
            self.database_name,
            if d.created > 0 {
                "created"
            } else {
                "unchanged"
            },
            t.created,
            t.updated,
            t.unchanged,
            p.created,
            p.updated,
            p.deleted,
            p.unchanged
        )
    }
}

/// Makes the Glue catalog `client` reaches hold `export`: its database (created if missing),
/// each of its tables (created, or updated where any field snapex sets differs, which is how
/// a table moves to a newer export), and for each table exactly the export's partitions (new
/// ones created, ones whose location, columns or other fields differ updated, others deleted).
/// Running it again with the same export changes nothing and reports everything unchanged.
/// Calls Glue at [`DEFAULT_REQUESTS_PER_SECOND`]; [`Registrar`] sets another rate.
pub async fn register(export: &ExportCatalog, client: &Client) -> Result<Report, GlueError> {
    // Boxed, so a caller's future does not nest the registration's: the Finalize Lambda's
    // went past the compiler's depth limit for computing its layout.
    Box::pin(Registrar::new(client.clone()).register(export)).await
}

/// Registers exports in the Glue catalog a client reaches, at a request rate shared by every
/// table it converges at once (clones share it too).
#[derive(Debug, Clone)]
pub struct Registrar {
    client: Client,
    rate: Arc<RequestRate>,
}

impl Registrar {
    /// A registrar calling Glue at most [`DEFAULT_REQUESTS_PER_SECOND`] times a second.
    pub fn new(client: Client) -> Registrar {
        Registrar::with_rate(client, DEFAULT_REQUESTS_PER_SECOND)
    }

    /// A registrar calling Glue at most `requests_per_second` times a second (at least once).
    pub fn with_rate(client: Client, requests_per_second: u32) -> Registrar {
        Registrar {
            client,
            rate: Arc::new(RequestRate::new(requests_per_second)),
        }
    }

    /// The whole registration: the database step, then every table `export` holds.
    pub async fn register(&self, export: &ExportCatalog) -> Result<Report, GlueError> {
        let database = self.register_database(&export.database).await?;
        let mut report = self.register_tables(export).await?;
        report.database = database;
        Ok(report)
    }

    /// The database step, done once before the tables: creates the database if it is
    /// missing. An existing one is left as it is: its description names whichever export
    /// created it, and other tables may live in it.
    pub async fn register_database(&self, database: &DatabaseInput) -> Result<Counts, GlueError> {
        let name = &database.name;
        let target = format!("database {name}");
        let client = &self.client;
        match self.call(|| client.get_database().name(name).send()).await {
            Ok(_) => {
                return Ok(Counts {
                    unchanged: 1,
                    ..Counts::default()
                });
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_entity_not_found_exception()) => {}
            Err(e) => return Err(GlueError::api("GetDatabase", target, e)),
        }
        let input = convert::database_input(database)?;
        match self
            .call(|| {
                client
                    .create_database()
                    .database_input(input.clone())
                    .send()
            })
            .await
        {
            Ok(_) => Ok(Counts {
                created: 1,
                ..Counts::default()
            }),
            // Another registration created it meanwhile: it exists, which is all we need.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_already_exists_exception()) =>
            {
                Ok(Counts {
                    unchanged: 1,
                    ..Counts::default()
                })
            }
            Err(e) => Err(GlueError::api("CreateDatabase", target, e)),
        }
    }

    /// The tables step: converges every table `export` holds (all of the export's, or the
    /// batch [`ExportCatalog::read_tables`] read) and its partitions, several tables at once.
    /// The database must exist ([`Registrar::register_database`]); the report's database
    /// counts are zero. The reports of an export's batches add up ([`Report::add`]) to the
    /// report of one call for all its tables.
    pub async fn register_tables(&self, export: &ExportCatalog) -> Result<Report, GlueError> {
        let db = export.database.name.as_str();
        // Each future owns what it uses: one borrowing across the stream is not `Send` to
        // the compiler, and a Lambda's handler must be. Boxed: a table's steps nest many
        // futures, and a caller's future type nests all of them unless one is boxed (the
        // Finalize Lambda's went past the compiler's depth limit for computing its layout
        // until `register` boxed its own).
        let per_table: Vec<(Counts, Counts)> = futures::stream::iter(export.tables.clone())
            .map(|t| {
                let (registrar, db) = (self.clone(), db.to_string());
                Box::pin(async move { registrar.converge_table(&db, &t).await })
            })
            .buffer_unordered(TABLES_AT_ONCE)
            .try_collect()
            .await?;
        let mut tables = Counts::default();
        let mut partitions = Counts::default();
        for (t, p) in per_table {
            tables.add(t);
            partitions.add(p);
        }
        Ok(Report {
            export_id: export.export_id.clone(),
            database_name: db.to_string(),
            database: Counts::default(),
            tables,
            partitions,
        })
    }

    /// Makes one Glue call (`send` builds and sends it) when the request rate allows it; if
    /// it is still throttled once the SDK's attempts are spent, makes it again after a
    /// backoff, at most [`crate::rate::THROTTLED_RETRIES`] times. Any other outcome, and
    /// the last throttling, is returned as it is.
    async fn call<T, E, F, Fut>(&self, send: F) -> Result<T, SdkError<E, HttpResponse>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata,
    {
        let mut delays = throttled_backoff();
        loop {
            self.rate.acquire().await;
            match send().await {
                Err(e) if throttled(&e) => match delays.next() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => return Err(e),
                },
                done => return done,
            }
        }
    }
}

/// True when Glue refused the call for its rate: a throttling code, "Rate exceeded", or
/// HTTP 429.
fn throttled<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    let status = e.raw_response().map(|r| r.status().as_u16());
    is_throttling(e.code(), e.message(), status)
}

/// One table's steps, each call made through [`Registrar::call`].
impl Registrar {
    /// One table and its partitions; returns the table's counts and its partitions'.
    async fn converge_table(
        &self,
        db: &str,
        t: &CatalogTable,
    ) -> Result<(Counts, Counts), GlueError> {
        let client = &self.client;
        let name = &t.input.name;
        let target = format!("table {db}.{name}");
        let existing = match self
            .call(|| client.get_table().database_name(db).name(name).send())
            .await
        {
            Ok(out) => out.table,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_entity_not_found_exception()) =>
            {
                None
            }
            Err(e) => return Err(GlueError::api("GetTable", target, e)),
        };
        let mut counts = Counts::default();
        // Whether Glue may hold partitions for this table that the export must account for.
        let mut may_have_partitions = true;
        match &existing {
            None => {
                let input = convert::table_input(&t.input)?;
                let created = self
                    .call(|| {
                        client
                            .create_table()
                            .database_name(db)
                            .table_input(input.clone())
                            .send()
                    })
                    .await;
                match created {
                    Ok(_) => {
                        counts.created = 1;
                        may_have_partitions = false;
                    }
                    // Created by someone else since we looked: make it ours.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_already_exists_exception()) =>
                    {
                        self.update_table(db, t).await?;
                        counts.updated = 1;
                    }
                    Err(e) => return Err(GlueError::api("CreateTable", target, e)),
                }
            }
            Some(held) => {
                if convert::table_from_glue(held) == t.input {
                    counts.unchanged = 1;
                } else {
                    self.update_table(db, t).await?;
                    counts.updated = 1;
                }
                // An unpartitioned table in Glue and in the export has no partitions to compare.
                may_have_partitions =
                    !held.partition_keys().is_empty() || !t.input.partition_keys.is_empty();
            }
        }
        let held = if may_have_partitions {
            self.list_partitions(db, name).await?
        } else {
            vec![]
        };
        let partitions = self.converge_partitions(db, t, held).await?;
        Ok((counts, partitions))
    }

    async fn update_table(&self, db: &str, t: &CatalogTable) -> Result<(), GlueError> {
        // Glue archives the previous definition as a table version, which keeps the way back to
        // the previous export.
        let input = convert::table_input(&t.input)?;
        self.call(|| {
            self.client
                .update_table()
                .database_name(db)
                .table_input(input.clone())
                .send()
        })
        .await
        .map_err(|e| GlueError::api("UpdateTable", format!("table {db}.{}", t.input.name), e))?;
        Ok(())
    }

    /// Every partition Glue holds for the table, in snapex's shape.
    async fn list_partitions(
        &self,
        db: &str,
        table: &str,
    ) -> Result<Vec<PartitionInput>, GlueError> {
        // Page by page by hand rather than with the SDK's paginator: each page is a call that
        // waits for its turn at the request rate.
        let mut out = vec![];
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call(|| {
                    self.client
                        .get_partitions()
                        .database_name(db)
                        .table_name(table)
                        .set_next_token(token.clone())
                        .send()
                })
                .await
                .map_err(|e| GlueError::api("GetPartitions", format!("table {db}.{table}"), e))?;
            out.extend(page.partitions().iter().map(convert::partition_from_glue));
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => return Ok(out),
            }
        }
    }
}

/// The partitions to create, to update and to delete so that Glue holds exactly `wanted`,
/// given what it `held`; and how many were already right.
struct PartitionPlan<'a> {
    create: Vec<&'a PartitionInput>,
    update: Vec<&'a PartitionInput>,
    delete: Vec<Vec<String>>,
    unchanged: u64,
}

fn plan_partitions(wanted: &[PartitionInput], held: Vec<PartitionInput>) -> PartitionPlan<'_> {
    let mut held: HashMap<Vec<String>, PartitionInput> =
        held.into_iter().map(|p| (p.values.clone(), p)).collect();
    let mut plan = PartitionPlan {
        create: vec![],
        update: vec![],
        delete: vec![],
        unchanged: 0,
    };
    for p in wanted {
        match held.remove(&p.values) {
            None => plan.create.push(p),
            Some(h) if h == *p => plan.unchanged += 1,
            Some(_) => plan.update.push(p),
        }
    }
    plan.delete = held.into_keys().collect();
    plan.delete.sort();
    plan
}

impl Registrar {
    async fn converge_partitions(
        &self,
        db: &str,
        t: &CatalogTable,
        held: Vec<PartitionInput>,
    ) -> Result<Counts, GlueError> {
        let table = t.input.name.as_str();
        let target = || format!("table {db}.{table}");
        let plan = plan_partitions(&t.partitions, held);

        for batch in plan.create.chunks(MAX_PARTITIONS_PER_BATCH) {
            let inputs = batch
                .iter()
                .map(|p| convert::partition_input(p, table))
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .call(|| {
                    self.client
                        .batch_create_partition()
                        .database_name(db)
                        .table_name(table)
                        .set_partition_input_list(Some(inputs.clone()))
                        .send()
                })
                .await
                .map_err(|e| GlueError::api("BatchCreatePartition", target(), e))?;
            let refused = out
                .errors()
                .iter()
                .map(|e| (e.partition_values(), e.error_detail()));
            if let Some(e) = GlueError::partitions("BatchCreatePartition", db, table, refused) {
                return Err(e);
            }
        }

        for batch in plan.update.chunks(MAX_PARTITION_UPDATES_PER_BATCH) {
            let entries = batch
                .iter()
                .map(|p| {
                    let build = |e: aws_sdk_glue::error::BuildError| GlueError::Build {
                        target: target(),
                        message: e.to_string(),
                    };
                    BatchUpdatePartitionRequestEntry::builder()
                        .set_partition_value_list(Some(p.values.clone()))
                        .partition_input(convert::partition_input(p, table)?)
                        .build()
                        .map_err(build)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .call(|| {
                    self.client
                        .batch_update_partition()
                        .database_name(db)
                        .table_name(table)
                        .set_entries(Some(entries.clone()))
                        .send()
                })
                .await
                .map_err(|e| GlueError::api("BatchUpdatePartition", target(), e))?;
            let refused = out
                .errors()
                .iter()
                .map(|e| (e.partition_value_list(), e.error_detail()));
            if let Some(e) = GlueError::partitions("BatchUpdatePartition", db, table, refused) {
                return Err(e);
            }
        }

        for batch in plan.delete.chunks(MAX_PARTITION_DELETES_PER_BATCH) {
            let values = batch
                .iter()
                .map(|v| {
                    PartitionValueList::builder()
                        .set_values(Some(v.clone()))
                        .build()
                        .map_err(|e| GlueError::Build {
                            target: target(),
                            message: e.to_string(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .call(|| {
                    self.client
                        .batch_delete_partition()
                        .database_name(db)
                        .table_name(table)
                        .set_partitions_to_delete(Some(values.clone()))
                        .send()
                })
                .await
                .map_err(|e| GlueError::api("BatchDeletePartition", target(), e))?;
            let refused = out
                .errors()
                .iter()
                .map(|e| (e.partition_values(), e.error_detail()));
            if let Some(e) = GlueError::partitions("BatchDeletePartition", db, table, refused) {
                return Err(e);
            }
        }

        Ok(Counts {
            created: plan.create.len() as u64,
            updated: plan.update.len() as u64,
            deleted: plan.delete.len() as u64,
            unchanged: plan.unchanged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapex::catalog::glue::StorageDescriptor;
    use std::collections::BTreeMap;

    fn part(value: &str, location: &str) -> PartitionInput {
        PartitionInput {
            values: vec![value.into()],
            storage_descriptor: StorageDescriptor::parquet(vec![], location.into()),
            parameters: BTreeMap::new(),
        }
    }

    #[test]
    fn partitions_are_created_updated_deleted_or_left_by_their_values() {
        let wanted = vec![
            part("a", "s3://b/new/t/k=a/"),
            part("b", "s3://b/new/t/k=b/"),
            part("c", "s3://b/new/t/k=c/"),
        ];
        let held = vec![
            part("z", "s3://b/old/t/k=z/"),
            part("b", "s3://b/old/t/k=b/"),
            part("c", "s3://b/new/t/k=c/"),
            part("y", "s3://b/old/t/k=y/"),
        ];
        let plan = plan_partitions(&wanted, held);
        let values = |ps: &[&PartitionInput]| -> Vec<String> {
            ps.iter().map(|p| p.values[0].clone()).collect()
        };
        assert_eq!(values(&plan.create), ["a"]);
        assert_eq!(values(&plan.update), ["b"]);
        assert_eq!(plan.delete, [vec!["y".to_string()], vec!["z".to_string()]]);
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn the_report_is_one_line() {
        let r = Report {
            export_id: "e1".into(),
            database_name: "shop".into(),
            database: Counts {
                created: 1,
                ..Counts::default()
            },
            tables: Counts {
                created: 2,
                ..Counts::default()
            },
            partitions: Counts {
                created: 5,
                deleted: 1,
                ..Counts::default()
            },
        };
        assert_eq!(
            r.to_string(),
            "export e1 in Glue database shop: database created; tables: 2 created, 0 updated, \
             0 unchanged; partitions: 5 created, 0 updated, 1 deleted, 0 unchanged"
        );
        assert!(!r.is_unchanged());
    }
}
