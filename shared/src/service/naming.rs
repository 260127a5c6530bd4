//! Names fixed by the trigger from the snapshot alone, so that everything made for one
//! snapshot has the same name however often the event arrives or a step is retried: the
//! export id, the temporary instance's identifiers, the execution's name and the secret's.
//! A name that must be unique per snapshot but is cut to fit ends in a hash of the
//! snapshot's ARN.

use chrono::{DateTime, Utc};

/// The tag marking every resource made for an export, with the export id as value. Cleanup
/// deletes only what carries it, so a clash of identifiers can never delete someone else's.
pub const EXPORT_TAG: &str = "snapex:export";
/// Set on the temporary instance (or cluster) once its master password is the secret's.
pub const CREDENTIALS_TAG: &str = "snapex:credentials";
pub const CREDENTIALS_SET: &str = "set";

/// RDS identifiers are at most 63 characters.
const RDS_IDENTIFIER_MAX: usize = 63;
/// Step Functions execution names are at most 80 characters.
const EXECUTION_NAME_MAX: usize = 80;
/// What a cluster's identifier adds to the instance's.
const CLUSTER_SUFFIX: &str = "-cluster";

/// `<source>-<UTC yyyymmddThhmmssZ>`: the export's folder under the destination.
pub fn export_id(source: &str, snapshot_time: DateTime<Utc>) -> String {
    format!(
        "{}-{}",
        source.to_ascii_lowercase(),
        snapshot_time.format("%Y%m%dT%H%M%SZ")
    )
}

/// The temporary DB instance's identifier: `snapex-<source>-<hash>`, a valid RDS identifier
/// (letters, digits, single hyphens, starting with a letter, not ending in a hyphen) short
/// enough that [`cluster_identifier`] of it is one too.
pub fn temporary_identifier(source: &str, snapshot_arn: &str) -> String {
    let hash = short_hash(snapshot_arn);
    let room = RDS_IDENTIFIER_MAX - CLUSTER_SUFFIX.len() - "snapex-".len() - 1 - hash.len();
    let mut base = rds_safe(source);
    base.truncate(room);
    let base = base.trim_end_matches('-');
    if base.is_empty() {
        format!("snapex-{hash}")
    } else {
        format!("snapex-{base}-{hash}")
    }
}

/// The temporary cluster's identifier for a cluster snapshot.
pub fn cluster_identifier(instance_identifier: &str) -> String {
    format!("{instance_identifier}{CLUSTER_SUFFIX}")
}

/// The execution's name: the export id in Step Functions' characters, cut to fit, plus the
/// snapshot's hash. Step Functions refuses a second execution of the same name (for 90
/// days), which is what makes the trigger idempotent.
pub fn execution_name(export_id: &str, snapshot_arn: &str) -> String {
    let hash = short_hash(snapshot_arn);
    let mut base: String = export_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    base.truncate(EXECUTION_NAME_MAX - 1 - hash.len());
    format!("{base}-{hash}")
}

/// The Secrets Manager secret holding the temporary instance's credentials.
pub fn secret_name(export_id: &str) -> String {
    format!("snapex/{export_id}")
}

/// Lowercase letters and digits, runs of anything else as one hyphen, no hyphen at either
/// end, starting with a letter.
fn rds_safe(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let start = out
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(out.len());
    out[start..].trim_end_matches('-').to_string()
}

/// Eight hex digits of FNV-1a over `s`: stable across Rust versions and platforms, unlike
/// the standard library's hasher, so a name computed again later is the same name.
fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", (h >> 32) ^ (h & 0xffff_ffff))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn valid_rds_identifier(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= RDS_IDENTIFIER_MAX
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.contains("--")
            && !s.ends_with('-')
    }

    #[test]
    fn export_ids_name_the_source_and_the_snapshot_time() {
        let t = Utc.with_ymd_and_hms(2026, 3, 15, 3, 14, 8).unwrap();
        assert_eq!(export_id("Orders-DB", t), "orders-db-20260315T031408Z");
    }

    #[test]
    fn temporary_identifiers_are_valid_stable_and_unique_per_snapshot() {
        let a = "arn:aws:rds:us-east-1:123456789012:snapshot:rds:orders-db-2026-03-15-03-10";
        let b = "arn:aws:rds:us-east-1:123456789012:snapshot:rds:orders-db-2026-03-16-03-10";
        let id = temporary_identifier("orders-db", a);
        assert!(id.starts_with("snapex-orders-db-"), "{id}");
        assert_eq!(id, temporary_identifier("orders-db", a));
        assert_ne!(id, temporary_identifier("orders-db", b));
        let long = "a".repeat(63);
        for source in [
            "orders-db",
            long.as_str(),
            "x--y--",
            "9-lives",
            "---",
            "Mixed_Case.Name",
            "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z-0-1-2-3-4-5",
        ] {
            let id = temporary_identifier(source, a);
            assert!(valid_rds_identifier(&id), "{source:?} -> {id:?}");
            let cluster = cluster_identifier(&id);
            assert!(valid_rds_identifier(&cluster), "{source:?} -> {cluster:?}");
        }
        assert_eq!(short_hash(a).len(), 8);
    }

    #[test]
    fn execution_names_fit_step_functions() {
        let arn = "arn:aws:rds:us-east-1:123456789012:snapshot:x";
        let name = execution_name("orders-db-20260315T031408Z", arn);
        assert!(name.starts_with("orders-db-20260315T031408Z-"), "{name}");
        assert_eq!(name, execution_name("orders-db-20260315T031408Z", arn));
        let long = format!("{}-20260315T031408Z", "a".repeat(63));
        for id in [long.as_str(), "we:ird/id"] {
            let name = execution_name(id, arn);
            assert!(name.len() <= EXECUTION_NAME_MAX, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{name}"
            );
        }
        assert_eq!(secret_name("e1"), "snapex/e1");
    }
}
