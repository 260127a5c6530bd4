//! The scheduled watch's decisions: which of the DB instances and clusters RDS lists are
//! temporary ones Snapex made, and how old they are. Cleanup deletes each export's own; one
//! that lives on (a failed Cleanup, an execution stopped by hand) costs money until someone
//! deletes it, and the oldest one's age is what the alarm watches.

use super::naming::EXPORT_TAG;

/// How every temporary instance and cluster identifier starts (see
/// [`super::naming::temporary_identifier`]); the functions' IAM policies allow no other.
pub const TEMPORARY_PREFIX: &str = "snapex-";

/// Whether RDS listed a DB instance or a DB cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Instance,
    Cluster,
}

/// A DB instance or cluster as RDS lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub kind: Kind,
    pub identifier: String,
    /// For an instance: the cluster it belongs to, if any.
    pub cluster: Option<String>,
    pub status: String,
    /// (key, value) pairs.
    pub tags: Vec<(String, String)>,
    /// Unix seconds; `None` while RDS has not stamped it (an instance still being created).
    pub created_at: Option<i64>,
}

/// A temporary instance or cluster that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Temporary {
    pub kind: Kind,
    pub identifier: String,
    /// The value of its `snapex:export` tag.
    pub export_id: String,
    pub status: String,
    /// Whole minutes since it was created; 0 while it has no creation time.
    pub age_minutes: u64,
}

/// What the watch reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    /// Every temporary instance, and every temporary cluster that has none of them left,
    /// oldest first.
    pub temporary: Vec<Temporary>,
}

impl Survey {
    /// How many there are (the `TemporaryInstancesAlive` metric).
    pub fn alive(&self) -> usize {
        self.temporary.len()
    }

    /// The oldest one, if any.
    pub fn oldest(&self) -> Option<&Temporary> {
        self.temporary.first()
    }

    /// The oldest one's age, 0 when there is none (the `OldestTemporaryInstanceAgeMinutes`
    /// metric: zero rather than no data, so the alarm can tell "none" from "not watched").
    pub fn oldest_age_minutes(&self) -> u64 {
        self.oldest().map_or(0, |t| t.age_minutes)
    }
}

/// The export a resource named `identifier` and tagged `tags` was made for, when it is a
/// temporary one: named `snapex-*` and tagged `snapex:export` with a value, as Restore makes
/// them and as the IAM policies require before anything may change or delete them.
pub fn temporary_export<'a>(
    identifier: &str,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<&'a str> {
    if !identifier.starts_with(TEMPORARY_PREFIX) {
        return None;
    }
    tags.into_iter()
        .find(|(k, v)| *k == EXPORT_TAG && !v.is_empty())
        .map(|(_, v)| v)
}

/// The temporary instances among `listed`, and the temporary clusters none of them belongs
/// to (a cluster whose instance is deleted still costs its storage), with their ages at `now`
/// (Unix seconds). A cluster's instance counts once: a cluster export is one instance.
pub fn survey(listed: &[Listed], now: i64) -> Survey {
    let temporary_of = |l: &Listed| {
        let tags = l.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        temporary_export(&l.identifier, tags).map(|export_id| Temporary {
            kind: l.kind,
            identifier: l.identifier.clone(),
            export_id: export_id.to_string(),
            status: l.status.clone(),
            age_minutes: l.created_at.map_or(0, |t| {
                u64::try_from(now.saturating_sub(t) / 60).unwrap_or(0)
            }),
        })
    };
    let instances: Vec<(&Listed, Temporary)> = listed
        .iter()
        .filter(|l| l.kind == Kind::Instance)
        .filter_map(|l| temporary_of(l).map(|t| (l, t)))
        .collect();
    let with_instance = |cluster: &str| {
        instances
            .iter()
            .any(|(l, _)| l.cluster.as_deref() == Some(cluster))
    };
    let clusters = listed
        .iter()
        .filter(|l| l.kind == Kind::Cluster && !with_instance(&l.identifier))
        .filter_map(temporary_of)
        .collect::<Vec<_>>();
    let mut temporary: Vec<Temporary> = instances.into_iter().map(|(_, t)| t).collect();
    temporary.extend(clusters);
    temporary.sort_by(|a, b| {
        b.age_minutes
            .cmp(&a.age_minutes)
            .then_with(|| a.identifier.cmp(&b.identifier))
    });
    Survey { temporary }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::naming::{cluster_identifier, temporary_identifier};

    const NOW: i64 = 1_764_600_000;

    fn listed(kind: Kind, id: &str, tags: &[(&str, &str)], age_minutes: Option<i64>) -> Listed {
        Listed {
            kind,
            identifier: id.to_string(),
            cluster: None,
            status: "available".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            created_at: age_minutes.map(|m| NOW - m * 60 - 59),
        }
    }

    #[test]
    fn the_prefix_is_the_one_restore_names_instances_with() {
        let id = temporary_identifier("orders-db", "arn:aws:rds:us-east-1:1:snapshot:s");
        assert!(id.starts_with(TEMPORARY_PREFIX), "{id}");
        assert!(cluster_identifier(&id).starts_with(TEMPORARY_PREFIX));
    }

    #[test]
    fn only_named_and_tagged_resources_are_temporary() {
        let tag = [("team", "data"), (EXPORT_TAG, "orders-db-20261201T031000Z")];
        assert_eq!(
            temporary_export("snapex-orders-db-1234abcd", tag),
            Some("orders-db-20261201T031000Z")
        );
        // Someone's own database named like ours, but never tagged by Restore.
        assert_eq!(temporary_export("snapex-prod", [("team", "data")]), None);
        // A tagged database that is not named like ours (a copy, a restore by hand).
        assert_eq!(temporary_export("orders-db", tag), None);
        assert_eq!(temporary_export("snapex-x", [(EXPORT_TAG, "")]), None);
    }

    #[test]
    fn the_survey_counts_instances_and_orphan_clusters_oldest_first() {
        fn e(id: &str) -> Vec<(&str, &str)> {
            vec![(EXPORT_TAG, id)]
        }
        let mut in_cluster = listed(Kind::Instance, "snapex-billing-aa", &e("b1"), Some(30));
        in_cluster.cluster = Some("snapex-billing-aa-cluster".into());
        let listed = vec![
            listed(Kind::Instance, "orders-db", &[], Some(100_000)),
            listed(Kind::Instance, "snapex-prod", &[], Some(9_000)),
            listed(Kind::Instance, "snapex-orders-db-11", &e("o1"), Some(400)),
            listed(Kind::Instance, "snapex-orders-db-22", &e("o2"), None),
            in_cluster,
            // Its instance is counted: the cluster is not counted again.
            listed(
                Kind::Cluster,
                "snapex-billing-aa-cluster",
                &e("b1"),
                Some(45),
            ),
            // Its instance is gone: the cluster itself is left over.
            listed(
                Kind::Cluster,
                "snapex-billing-bb-cluster",
                &e("b2"),
                Some(1_000),
            ),
            listed(Kind::Cluster, "billing", &[], Some(100_000)),
        ];
        let s = survey(&listed, NOW);
        let ids: Vec<(&str, u64)> = s
            .temporary
            .iter()
            .map(|t| (t.identifier.as_str(), t.age_minutes))
            .collect();
        assert_eq!(
            ids,
            [
                ("snapex-billing-bb-cluster", 1_000),
                ("snapex-orders-db-11", 400),
                ("snapex-billing-aa", 30),
                ("snapex-orders-db-22", 0),
            ]
        );
        assert_eq!(s.alive(), 4);
        assert_eq!(s.oldest_age_minutes(), 1_000);
        let oldest = s.oldest().unwrap();
        assert_eq!(
            (oldest.kind, oldest.export_id.as_str()),
            (Kind::Cluster, "b2")
        );
    }

    #[test]
    fn nothing_left_is_zero_and_clocks_behind_are_not_negative() {
        let s = survey(&[], NOW);
        assert_eq!(
            (s.alive(), s.oldest_age_minutes(), s.oldest()),
            (0, 0, None)
        );
        let mut future = listed(Kind::Instance, "snapex-a", &[(EXPORT_TAG, "a")], None);
        future.created_at = Some(NOW + 600);
        assert_eq!(survey(&[future], NOW).oldest_age_minutes(), 0);
    }
}
