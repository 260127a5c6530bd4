//! The pieces of a table with Hive partitions: one partition folder per piece, a partition's
//! groups packed into files near the target size, a big key bucket split by its quantiles.

use crate::model::{
    GroupValue, HivePartition, KeyRange, PartFilter, PartitionBy, Partitioning, Piece,
    ProfileGroup, TableDesc,
};
use crate::plan::PlanConfig;
use crate::plan::ranges::split_by_quantiles;

/// The pieces of a table with Hive partitions, each with its estimated source bytes.
pub(super) fn hive_pieces(
    t: &TableDesc,
    p: &Partitioning,
    groups: &[ProfileGroup],
    config: &PlanConfig,
) -> Vec<(Piece, u64)> {
    let target = config.piece_bytes();
    let rows: u64 = groups.iter().map(|g| g.rows).sum();
    let bytes_per_row = if rows == 0 {
        0.0
    } else {
        t.estimated_bytes as f64 / rows as f64
    };
    let bytes_of = |rows: u64| (rows as f64 * bytes_per_row) as u64;
    // Key hints only narrow a read; a table read through its leaves has none.
    let hinted = t.split_key.is_some() && t.partitions.is_empty();
    let piece = |value: Option<String>, filter: PartFilter, range: Option<KeyRange>| Piece {
        table: t.name.clone(),
        range,
        partition: None,
        hive: Some(HivePartition {
            key: p.key.clone(),
            value,
            filter,
        }),
    };
    let mut out = Vec::new();
    let mut sorted: Vec<&ProfileGroup> = groups.iter().filter(|g| g.rows > 0).collect();
    sorted.sort_by(|a, b| a.value.cmp(&b.value));
    match p.by {
        PartitionBy::Time { granularity } => {
            let mut i = 0;
            while i < sorted.len() {
                let GroupValue::Time(first) = sorted[i].value else {
                    let hint = hinted.then(|| key_hint(&sorted[i..=i])).flatten();
                    let bytes = bytes_of(sorted[i].rows);
                    out.push((piece(None, PartFilter::TimeNull, hint), bytes));
                    i += 1;
                    continue;
                };
                let start = granularity.period_start(first);
                let end = granularity.period_end(start);
                let mut j = i;
                while j < sorted.len() && matches!(sorted[j].value, GroupValue::Time(v) if v < end)
                {
                    j += 1;
                }
                // Consecutive groups of the period, packed up to the target; the first piece
                // starts at the period's start and the last ends at its end, so the pieces
                // cover the period whole.
                let label = granularity.label(start);
                let mut lo = start;
                let mut from = i;
                let mut acc = 0u64;
                for k in i..j {
                    let b = bytes_of(sorted[k].rows);
                    if k > from && acc + b > target {
                        let GroupValue::Time(hi) = sorted[k].value else {
                            unreachable!("a period holds only times")
                        };
                        let hint = hinted.then(|| key_hint(&sorted[from..k])).flatten();
                        let filter = PartFilter::TimeRange { lo, hi };
                        out.push((piece(Some(label.clone()), filter, hint), acc));
                        (lo, from, acc) = (hi, k, 0);
                    }
                    acc += b;
                }
                let hint = hinted.then(|| key_hint(&sorted[from..j])).flatten();
                let filter = PartFilter::TimeRange { lo, hi: end };
                out.push((piece(Some(label), filter, hint), acc));
                i = j;
            }
        }
        PartitionBy::Value => {
            for g in sorted {
                let hint = hinted.then(|| key_hint(&[g])).flatten();
                let (value, filter) = match &g.value {
                    GroupValue::Text(v) => {
                        (Some(v.clone()), PartFilter::ValueEquals { text: v.clone() })
                    }
                    _ => (None, PartFilter::ValueNull),
                };
                out.push((piece(value, filter, hint), bytes_of(g.rows)));
            }
        }
        PartitionBy::KeyBuckets { width } => {
            let width = width.max(1) as i128;
            let quantiles = t.split_key.as_ref().map_or(&[][..], |k| &k.quantiles[..]);
            for g in sorted {
                let (GroupValue::Bucket(n), Some((kmin, kmax))) = (&g.value, g.keys) else {
                    continue;
                };
                let start = *n as i128 * width;
                let end = start + width;
                let bytes = bytes_of(g.rows);
                let parts = bytes
                    .div_ceil(target.max(1))
                    .clamp(1, config.max_ranges_per_table);
                let inside: Vec<i64> = quantiles
                    .iter()
                    .copied()
                    .filter(|q| (kmin..=kmax).contains(q))
                    .collect();
                let mut ranges = split_by_quantiles(kmin, kmax, &inside, parts);
                // The outer ends are the bucket's own, so every key of the bucket is covered.
                let clamp = |v: i128| i64::try_from(v).ok();
                if let Some(r) = ranges.first_mut() {
                    r.lo = clamp(start);
                }
                if let Some(r) = ranges.last_mut() {
                    r.hi = clamp(end);
                }
                let each = bytes / ranges.len() as u64;
                for r in ranges {
                    let p = piece(Some(start.to_string()), PartFilter::KeyRangeOnly, Some(r));
                    out.push((p, each));
                }
            }
        }
    }
    out
}

/// The key span of `groups` as a half-open range, if every group has one.
fn key_hint(groups: &[&ProfileGroup]) -> Option<KeyRange> {
    let mut lo = i64::MAX;
    let mut hi = i64::MIN;
    for g in groups {
        let (a, b) = g.keys?;
        lo = lo.min(a);
        hi = hi.max(b);
    }
    (lo <= hi).then(|| KeyRange {
        lo: Some(lo),
        hi: hi.checked_add(1),
    })
}

#[cfg(test)]
mod tests {
    use crate::model::{
        GroupValue, KeyRange, PartFilter, PartitionBy, Partitioning, Piece, ProfileGroup, TableDesc,
    };
    use crate::plan::tests::{assert_partition, group, limited, refusal, table};
    use crate::plan::{PlanConfig, plan};
    use std::collections::HashMap;

    #[test]
    fn a_hive_partition_over_the_limit_is_refused() {
        let mut t = table("events", 1000, Some((1, 1000)), true);
        t.partition_by = Some(Partitioning {
            key: "region".into(),
            column: "region".into(),
            by: PartitionBy::Value,
        });
        let groups = vec![
            group(GroupValue::Text("eu".into()), 900, (1, 900)),
            group(GroupValue::Text("us".into()), 100, (901, 1000)),
        ];
        let profiles = HashMap::from([(t.name.clone(), groups)]);
        let e = plan(&[t], &profiles, &limited()).unwrap_err();
        let (_, bytes, _, shown) = refusal(e);
        assert_eq!(bytes, 900);
        assert!(shown.contains("the partition region=eu"), "{shown}");
    }

    fn hive_table(by: PartitionBy, bytes: u64) -> TableDesc {
        let mut t = table("events", bytes, Some((1, 1_000_000)), true);
        t.partition_by = Some(Partitioning {
            key: "k".into(),
            column: "created_at".into(),
            by,
        });
        t
    }

    fn pieces_of(t: &TableDesc, groups: Vec<ProfileGroup>, cfg: &PlanConfig) -> Vec<Piece> {
        let profiles = HashMap::from([(t.name.clone(), groups)]);
        let mut pieces: Vec<Piece> = plan(std::slice::from_ref(t), &profiles, cfg)
            .unwrap()
            .into_iter()
            .flat_map(|c| c.pieces)
            .collect();
        pieces.sort_by_key(|p| p.file_stem());
        pieces
    }

    #[test]
    fn time_partitions_pack_small_days_and_split_big_ones() {
        use crate::model::Granularity;
        const H: i64 = 3600;
        let day = |d: i64| 1_700_006_400 + d * 86_400; // 2023-11-15 00:00 UTC
        let cfg = PlanConfig {
            target_file_bytes: 1000,
            source_bytes_per_file_byte: 1.0,
            ..PlanConfig::default()
        };
        let t = hive_table(
            PartitionBy::Time {
                granularity: Granularity::Day,
            },
            // 10,000 rows at 1 byte each: target = 1000 rows.
            10_000,
        );
        let mut groups = vec![group(GroupValue::Null, 100, (5, 9))];
        // Day 0: three small hours (one file). Day 1: 24 hours of 400 rows (9600 rows: ~10
        // files of two hours each).
        for h in [1, 5, 23] {
            groups.push(group(GroupValue::Time(day(0) + h * H), 100, (h, h + 10)));
        }
        for h in 0..24 {
            groups.push(group(
                GroupValue::Time(day(1) + h * H),
                400,
                (100 + h, 200 + h),
            ));
        }
        groups.push(group(GroupValue::Time(day(2)), 0, (0, 0)));
        let pieces = pieces_of(&t, groups, &cfg);
        let by_value = |v: Option<&str>| {
            pieces
                .iter()
                .filter(|p| p.hive.as_ref().unwrap().value.as_deref() == v)
                .collect::<Vec<_>>()
        };
        let d0 = by_value(Some("2023-11-15"));
        assert_eq!(d0.len(), 1);
        assert_eq!(
            d0[0].hive.as_ref().unwrap().filter,
            PartFilter::TimeRange {
                lo: day(0),
                hi: day(1)
            }
        );
        assert_eq!(
            d0[0].range,
            Some(KeyRange {
                lo: Some(1),
                hi: Some(34)
            })
        );
        let d1 = by_value(Some("2023-11-16"));
        assert_eq!(d1.len(), 12, "two hours (800 rows) per file");
        // The day's pieces tile it exactly: no gap, no overlap.
        let mut spans: Vec<(i64, i64)> = d1
            .iter()
            .map(|p| match p.hive.as_ref().unwrap().filter {
                PartFilter::TimeRange { lo, hi } => (lo, hi),
                ref f => panic!("{f:?}"),
            })
            .collect();
        spans.sort();
        assert_eq!(spans.first().unwrap().0, day(1));
        assert_eq!(spans.last().unwrap().1, day(2));
        assert!(spans.windows(2).all(|w| w[0].1 == w[1].0), "{spans:?}");
        // The empty day writes nothing; NULL times have a piece of their own.
        assert!(by_value(Some("2023-11-17")).is_empty());
        let nulls = by_value(None);
        assert_eq!(nulls.len(), 1);
        assert_eq!(nulls[0].hive.as_ref().unwrap().filter, PartFilter::TimeNull);
        assert_eq!(pieces.len(), 14);
    }

    #[test]
    fn key_buckets_cover_each_bucket_whole_and_split_big_ones() {
        let cfg = PlanConfig {
            target_file_bytes: 1000,
            source_bytes_per_file_byte: 1.0,
            ..PlanConfig::default()
        };
        let t = hive_table(PartitionBy::KeyBuckets { width: 100 }, 3000);
        let groups = vec![
            group(GroupValue::Bucket(-1), 500, (-90, -3)),
            group(GroupValue::Bucket(7), 2500, (701, 799)),
        ];
        let pieces = pieces_of(&t, groups, &cfg);
        let neg: Vec<_> = pieces
            .iter()
            .filter(|p| p.hive.as_ref().unwrap().value.as_deref() == Some("-100"))
            .collect();
        assert_eq!(neg.len(), 1);
        assert_eq!(
            neg[0].range,
            Some(KeyRange {
                lo: Some(-100),
                hi: Some(0)
            })
        );
        let big: Vec<KeyRange> = pieces
            .iter()
            .filter(|p| p.hive.as_ref().unwrap().value.as_deref() == Some("700"))
            .map(|p| p.range.unwrap())
            .collect();
        assert_eq!(big.len(), 3);
        assert_partition(&big, 700..800);
        assert!(
            big.iter()
                .all(|r| r.lo.unwrap_or(700) >= 700 && r.hi.unwrap_or(800) <= 800)
        );
        assert!(!big.iter().any(|r| r.contains(699) || r.contains(800)));
    }

    #[test]
    fn value_partitions_one_piece_per_value() {
        let t = hive_table(PartitionBy::Value, 0);
        let groups = vec![
            group(GroupValue::Text("a/b".into()), 3, (1, 9)),
            group(GroupValue::Text(String::new()), 1, (4, 4)),
            group(GroupValue::Null, 2, (2, 3)),
        ];
        let pieces = pieces_of(&t, groups, &PlanConfig::default());
        let filters: Vec<(Option<String>, PartFilter)> = pieces
            .iter()
            .map(|p| {
                let h = p.hive.clone().unwrap();
                (h.value, h.filter)
            })
            .collect();
        assert_eq!(filters.len(), 3);
        assert!(filters.contains(&(None, PartFilter::ValueNull)));
        assert!(filters.contains(&(
            Some(String::new()),
            PartFilter::ValueEquals {
                text: String::new()
            }
        )));
        assert!(filters.contains(&(
            Some("a/b".into()),
            PartFilter::ValueEquals { text: "a/b".into() }
        )));
        // Three small pieces share one chunk but each writes its own file.
        let profiles = HashMap::from([(t.name.clone(), vec![])]);
        assert!(
            plan(&[t], &profiles, &PlanConfig::default())
                .unwrap()
                .is_empty()
        );
    }
}
